"""The worker's applier (PostgreSQL): events stored for deferred apply are applied once the
transaction that stored them commits, without a job in the queue; what was pending before
it listened, or while its connection was broken, is applied too."""

from __future__ import annotations

import threading
import time

from sqlalchemy import text
from support.jobs import (  # noqa: F401 - fixtures
    connect,
    events,
    kit,
    paid_and_acknowledged,
    payment,
    pg_jctx,
    seed,
    smtp,
    unique_queue,
)

from loket.core.config import AppConfig
from loket.jobs import applier as applier_module
from loket.jobs import make_huey
from loket.jobs.applier import Applier
from loket.jobs.worker import LoketConsumer

# The listener's connection as PostgreSQL shows it: its last statement was its LISTEN.
LISTENER = text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND query LIKE 'LISTEN %' AND pid <> pg_backend_pid()")


def _wait_for(condition, timeout: float = 15.0) -> bool:
    """Whether ``condition`` came true within ``timeout`` (half the applier's safety poll:
    an event applied in time was applied because it was announced)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


def _listener(ctx) -> int | None:
    with ctx.engine.connect() as connection:
        return connection.execute(LISTENER).scalar()


def _succeeded(ctx, numbers: list[str]) -> bool:
    return all(payment(ctx, number).status == "succeeded" for number in numbers)


def test_announced_events_are_applied_as_they_commit_without_a_job(pg_jctx):
    ctx = pg_jctx  # no job queue: nothing but the applier can apply them
    tenant_id = seed(ctx)
    connect(ctx, tenant_id)
    applier = Applier(ctx).start()
    try:
        assert _wait_for(lambda: _listener(ctx) is not None)
        numbers = paid_and_acknowledged(ctx, tenant_id, 3)
        assert _wait_for(lambda: _succeeded(ctx, numbers))
    finally:
        applier.stop()
    assert applier.batches >= 1
    assert [(e.status, e.attempts) for e in events(ctx)] == [("processed", 1)] * 3


def test_what_was_pending_before_it_listened_is_applied_when_it_starts(pg_jctx):
    ctx = pg_jctx
    tenant_id = seed(ctx)
    connect(ctx, tenant_id)
    numbers = paid_and_acknowledged(ctx, tenant_id, 2)  # announced to nobody
    time.sleep(0.5)
    assert not _succeeded(ctx, numbers)
    applier = Applier(ctx).start()
    try:
        assert _wait_for(lambda: _succeeded(ctx, numbers))
    finally:
        applier.stop()


def test_an_event_announced_while_its_connection_is_broken_is_applied_after_it_reconnects(
        pg_jctx, monkeypatch):
    ctx = pg_jctx
    tenant_id = seed(ctx)
    connect(ctx, tenant_id)
    gate = threading.Event()  # held shut: the applier cannot listen again until the test says
    connects = []
    real_connect = applier_module.psycopg.connect

    def gated_connect(*args, **kwargs):
        if threading.current_thread().name == "loket-applier":  # not the test's own
            connects.append(1)
            if len(connects) > 1:
                gate.wait(30)
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(applier_module.psycopg, "connect", gated_connect)
    applier = Applier(ctx).start()
    try:
        assert _wait_for(lambda: _listener(ctx) is not None)
        first = _listener(ctx)
        with ctx.engine.connect() as connection:
            assert connection.execute(text("SELECT pg_terminate_backend(:pid)"),
                                      {"pid": first}).scalar()
        assert _wait_for(lambda: len(connects) == 2)  # the failure noticed; reconnecting
        numbers = paid_and_acknowledged(ctx, tenant_id, 1)  # nobody listens: it is lost
        time.sleep(0.5)
        assert not _succeeded(ctx, numbers)
        gate.set()
        assert _wait_for(lambda: _succeeded(ctx, numbers))
        # Listening again, on a new connection (read until it shows: one read of
        # pg_stat_activity came back empty once under load, just after the event applied).
        assert _wait_for(lambda: _listener(ctx) not in (None, first))
    finally:
        gate.set()
        applier.stop()


def test_stopping_it_ends_its_thread_and_its_connection(pg_jctx):
    applier = Applier(pg_jctx).start()
    assert _wait_for(lambda: _listener(pg_jctx) is not None)
    started = time.monotonic()
    applier.stop()
    assert time.monotonic() - started < 5
    assert not applier._thread.is_alive()
    assert _wait_for(lambda: _listener(pg_jctx) is None, timeout=5)


def test_the_worker_stops_its_applier_with_its_consumer(pg_jctx, tmp_path):
    # huey's SIGHUP restart stops the consumer, then re-executes the process without
    # returning from its run: the applier must stop with the consumer, not after run.
    applier = Applier(pg_jctx).start()
    huey = make_huey(AppConfig(var_dir=tmp_path / "queue"), unique_queue())
    consumer = LoketConsumer(huey, applier, workers=1, worker_type="thread")
    assert _wait_for(lambda: _listener(pg_jctx) is not None)
    consumer.stop()
    assert not applier._thread.is_alive()
