"""The job queue: which Huey storage is chosen, and loket's tasks making the round trip
through it (SQLite always; Redis when it runs on 127.0.0.1:6379, else skipped loudly)."""

from __future__ import annotations

import threading

import attrs
import pytest
from huey import PostgresHuey, RedisHuey, SqliteHuey
from support.db import empty_postgres_database, pg_available
from support.jobs import (  # noqa: F401 - fixtures
    deliver,
    events,
    jctx,
    jtenant,
    kit,
    payer_acts,
    payment,
    redis_or_skip,
    smtp,
    start_checkout,
    unique_queue,
    with_smtp,
)

from loket.core.config import AppConfig
from loket.core.secrets import SecretBox
from loket.errors import ConfigurationError
from loket.jobs import make_huey, register
from loket.jobs.queue import postgres_dsn
from loket.jobs.tasks import run_pending
from loket.types import Notification


def test_sqlite_queue_lives_beside_the_embedded_database(tmp_path):
    huey = make_huey(AppConfig(var_dir=tmp_path / "var"))
    assert isinstance(huey, SqliteHuey)
    assert (tmp_path / "var" / "huey.db").exists()


def test_a_task_runs_without_reading_or_clearing_revocation_flags(tmp_path):
    huey = make_huey(AppConfig(var_dir=tmp_path / "var"), unique_queue())
    touched: list = []
    storage = huey.storage
    for name in ("peek_many", "peek_data", "pop_data", "delete_data"):
        original = getattr(storage, name)

        def recording(*args, _original=original, _name=name, **kwargs):
            touched.append((_name, args))
            return _original(*args, **kwargs)
        setattr(storage, name, recording)
    ran: list[int] = []
    task = huey.task()(lambda n: ran.append(n))
    huey.execute(task.s(7))
    assert ran == [7] and touched == []
    with pytest.raises(NotImplementedError, match="do not revoke"):
        task.revoke()
    with pytest.raises(NotImplementedError, match="do not revoke"):
        huey.revoke_by_id("some-task-id")


def test_redis_and_postgres_queues_are_chosen_by_configuration(tmp_path):
    config = AppConfig.from_env({"LOKET_REDIS_URL": "redis://127.0.0.1:6379/3",
                                 "LOKET_VAR_DIR": str(tmp_path),
                                 "LOKET_SECRET_KEY": SecretBox.generate_key()})
    assert isinstance(make_huey(config), RedisHuey)
    assert postgres_dsn("postgresql+psycopg://loket:pw@db.internal:5432/loket") == \
        "postgresql://loket:pw@db.internal:5432/loket"
    with pytest.raises(ConfigurationError, match="PostgreSQL URL"):
        make_huey(AppConfig(queue="postgres", var_dir=tmp_path))
    with pytest.raises(ConfigurationError, match="sqlite, redis or postgres"):
        make_huey(AppConfig(queue="rabbit", var_dir=tmp_path))


def test_api_and_worker_processes_share_a_custom_queue_name(tmp_path, monkeypatch):
    import argparse

    from loket import jobs
    from loket.core.context import Loket
    from loket.jobs.cli import _setup
    monkeypatch.setenv("LOKET_QUEUE_NAME", "billing-7")
    monkeypatch.setenv("LOKET_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("LOKET_DATABASE_URL", f"sqlite:///{tmp_path / 'q.db'}")
    monkeypatch.setenv("LOKET_SECRET_KEY", SecretBox.generate_key())
    # What get_app() does in every API process, then what `loket worker` does.
    api_jobs = jobs.setup(Loket.create(AppConfig.from_env()))
    _ctx, worker_jobs = _setup(argparse.Namespace(queue_name=None), production=True)
    assert api_jobs.huey.name == worker_jobs.huey.name == "billing-7"
    api_jobs.process_event(123)  # enqueued by the API side
    assert worker_jobs.huey.pending_count() == 1  # where the worker reads
    assert jobs.make_huey(AppConfig(var_dir=tmp_path / "var")).pending_count() == 0


def test_the_worker_writes_tracking_events_in_batches_and_the_commands_at_once(
        tmp_path, monkeypatch):
    import argparse

    from sqlalchemy import func, select

    from loket.core.models import Base, TrackingEventRow
    from loket.jobs.cli import _setup
    from loket.types import TrackingEvent
    monkeypatch.setenv("LOKET_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("LOKET_DATABASE_URL", f"sqlite:///{tmp_path / 'q.db'}")
    monkeypatch.setenv("LOKET_SECRET_KEY", SecretBox.generate_key())
    args = argparse.Namespace(queue_name=None)
    worker_ctx, worker_jobs = _setup(args, production=True)
    Base.metadata.create_all(worker_ctx.engine)

    def written() -> int:
        with worker_ctx.transaction() as session:
            return session.scalar(select(func.count()).select_from(TrackingEventRow))

    sink = worker_ctx.plugins.pm.get_plugin("tracking")
    sink.write.max_delay_ms = 60_000  # its own flush, a second later, does not race this test
    for n in range(3):
        worker_ctx.plugins.track(TrackingEvent(None, "payment.completed", "worker", {"n": n}))
    assert written() == 0  # buffered: written together within a second, or when asked
    assert sink.write.flush() == 3 and written() == 3
    for n in range(2):
        worker_ctx.plugins.track(TrackingEvent(None, "payment.completed", "worker", {"n": n}))
    for stopping in worker_jobs.huey._shutdown.values():  # what a stopping worker thread runs
        stopping()
    assert written() == 5
    command_ctx, _jobs = _setup(args)  # `loket jobs run`: exits right after
    command_ctx.plugins.track(TrackingEvent(None, "payment.completed", "cli", {"n": 3}))
    assert written() == 6  # at once


def test_postgres_queue_shares_the_database(request, tmp_path):
    url = request.getfixturevalue("pg_url")
    huey = make_huey(AppConfig(database_url=url, queue="postgres", var_dir=tmp_path),
                     unique_queue())
    assert isinstance(huey, PostgresHuey)
    try:
        huey.enqueue(huey.task()(lambda: None).s())
        assert huey.pending_count() == 1
    finally:
        huey.flush()


def _queues(tmp_path, backend):
    if backend == "redis":
        return AppConfig(redis_url=redis_or_skip(), queue="redis", var_dir=tmp_path)
    return AppConfig(var_dir=tmp_path / "q")


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_event_task_and_email_task_make_the_round_trip(backend, jctx, jtenant, smtp,
                                                       tmp_path):
    jobs = register(make_huey(_queues(tmp_path, backend), unique_queue()), jctx)
    try:
        with_smtp(jctx, smtp, jobs)  # the notifier now only enqueues
        paying = start_checkout(jctx, jtenant)
        assert smtp.to("john.doe@example.com") == []  # queued, not sent in the request
        assert deliver(jctx, payer_acts(jctx, jtenant, paying), process=False).status == 200
        (event,) = events(jctx)
        jobs.process_event(event.id)
        jobs.process_event(event.id)  # enqueued twice: applied once

        assert run_pending(jobs) == 4  # 2 events + 2 e-mails (initiated, then succeeded)
        assert payment(jctx, paying.number).status == "succeeded"
        assert [m["subject"] for m in smtp.to("john.doe@example.com")] == [
            "Payment started", "Payment successful"]
        assert run_pending(jobs) == 0
    finally:
        jobs.huey.flush()


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_email_task_is_retried_when_the_mail_server_is_down(backend, jctx, tmp_path):
    jctx.config = attrs.evolve(jctx.config, smtp_port=1)  # nothing listens there
    jobs = register(make_huey(_queues(tmp_path, backend), unique_queue()), jctx)
    try:
        jobs.send_email(Notification(tenant_id=1, kind="payment.failed", subject="s",
                                     body="b", recipients=("a@example.com",)))
        assert run_pending(jobs) == 1
        (retry,) = jobs.huey.scheduled()
        assert retry.retries == 4 and retry.name == "send_email"
    finally:
        jobs.huey.flush()


def test_processes_opening_a_new_postgres_queue_together_all_start(tmp_path):
    """gunicorn's workers and a worker started at once on a new database each create the
    queue's tables if missing: none of them may fail for it."""
    if not pg_available():
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432 — PostgreSQL tests SKIPPED")
    with empty_postgres_database("loket_test_q") as url:
        _open_together(AppConfig(database_url=url, queue="postgres", var_dir=tmp_path))


def _open_together(config: AppConfig) -> None:
    """Open the configured queue from 8 threads at once; each must succeed."""
    together = threading.Barrier(8, timeout=30)
    failures = []

    def open_queue() -> None:
        together.wait()
        try:
            make_huey(config).storage.close()
        except Exception as exc:  # noqa: BLE001 - what the test counts
            failures.append(exc)

    threads = [threading.Thread(target=open_queue) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    huey = make_huey(config, unique_queue())
    huey.enqueue(huey.task()(lambda: None).s())
    assert huey.pending_count() == 1
    huey.storage.close()
