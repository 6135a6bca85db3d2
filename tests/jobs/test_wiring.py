"""How the worker hears of events stored for deferred apply: on PostgreSQL from the storing
transaction itself (nothing enqueued); elsewhere through the queue, once per burst of
webhooks and always after the last one."""

from __future__ import annotations

import time

from support.db import build_ctx
from support.jobs import kit, pg_jctx, smtp, unique_queue  # noqa: F401 - fixtures

from loket.core.config import AppConfig
from loket.jobs import make_huey, register
from loket.jobs.wiring import Coalesced, install_builtins


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


def _jobs(ctx, tmp_path):
    return register(make_huey(AppConfig(var_dir=tmp_path / "queue"), unique_queue()), ctx)


def test_on_postgresql_the_endpoint_enqueues_nothing_after_storing_events(pg_jctx, tmp_path):
    jobs = _jobs(pg_jctx, tmp_path)
    install_builtins(pg_jctx, jobs)
    assert not isinstance(pg_jctx.event_kick, Coalesced)
    pg_jctx.event_kick()
    time.sleep(0.2)  # ten times the queue's delay
    assert jobs.huey.pending_count() == 0


def test_elsewhere_the_endpoint_asks_the_worker_through_the_queue(kit, tmp_path, request):
    ctx = build_ctx(tmp_path, kit.plugins, "sqlite", request)
    jobs = _jobs(ctx, tmp_path)
    install_builtins(ctx, jobs)
    assert isinstance(ctx.event_kick, Coalesced)
    ctx.event_kick()
    _wait_for(lambda: jobs.huey.pending_count() == 1)
    assert [task.name for task in jobs.huey.pending()] == ["apply_events"]
    ctx.engine.dispose()
