"""The worker is asked once per burst of deferred webhooks, and always after the last one."""

from __future__ import annotations

import time

from loket.jobs.wiring import Coalesced


def _wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)


def test_a_burst_of_calls_enqueues_once_and_a_later_call_again():
    enqueued: list[float] = []
    kick = Coalesced(lambda: enqueued.append(time.monotonic()), delay_ms=500)
    asked = time.monotonic()
    for _ in range(20):  # a burst: microseconds, well inside the delay
        kick()
    _wait_for(lambda: len(enqueued) == 1)
    time.sleep(0.6)  # longer than the delay: the burst asked for no second one
    assert len(enqueued) == 1 and enqueued[0] >= asked
    called = time.monotonic()
    kick()  # after the burst's enqueue: asks again
    _wait_for(lambda: len(enqueued) == 2)
    assert len(enqueued) == 2 and enqueued[1] > called
