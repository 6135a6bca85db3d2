"""The worker is asked once per burst of deferred webhooks, and always after the last one."""

from __future__ import annotations

import threading
import time

from loket.jobs.wiring import Coalesced


def _wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)


def test_a_burst_of_calls_enqueues_once_and_a_later_call_again():
    enqueued: list[float] = []
    kick = Coalesced(lambda: enqueued.append(time.monotonic()), delay=0.05)
    threads = [threading.Thread(target=kick) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _wait_for(lambda: len(enqueued) == 1)
    time.sleep(0.1)
    assert len(enqueued) == 1
    called = time.monotonic()
    kick()
    _wait_for(lambda: len(enqueued) == 2)
    assert len(enqueued) == 2 and enqueued[1] > called  # after the call that asked for it
