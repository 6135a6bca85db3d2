"""The outbox retention: finished deliveries and their events go once older than
``LOKET_OUTBOX_RETENTION_DAYS``, a batch per transaction; a pending delivery, the event of
any delivery left, a young row and a tenant's newest host event stay; 0 keeps everything."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session
from support.engine import ACTOR, seed

from loket.core.config import AppConfig
from loket.core.models import OutboxDelivery, OutboxEvent, OutboxFeedCommit
from loket.core.outbox import endpoints, events, retention
from loket.core.outbox.feed import feed
from loket.errors import ConfigurationError
from loket.types import Notification

OLD = dt.datetime.now(dt.UTC) - dt.timedelta(days=91)
YOUNG = dt.datetime.now(dt.UTC) - dt.timedelta(days=89)


def _endpoint(ctx, tenant_id: int, port: int = 9) -> int:
    with ctx.transaction() as session:
        row, _secret = endpoints.create_endpoint(ctx, session, ACTOR, tenant_id,
                                                 f"http://127.0.0.1:{port}/hook", [])
        return row.id


def _host_event(ctx, tenant_id: int, name: str, when: dt.datetime = OLD) -> int:
    """A host event written ``when`` in its own transaction (its own feed position)."""
    with ctx.transaction() as session:
        row = events.emit(session, tenant_id, "payment.completed", {"payment": name},
                          f"payment:{name}", now=when)
        session.flush()
        return row.id


def _message(ctx, tenant_id: int, when: dt.datetime = OLD) -> int:
    note = Notification(tenant_id=tenant_id, kind="payment.succeeded", subject="Paid",
                        body="Thank you")
    with ctx.transaction() as session:
        row = events.emit_message(session, note, [("log", "payer@example.com")], "m", when)
        session.flush()
        return row.id


def _finish(ctx, event_id: int, status: str = "delivered", when: dt.datetime = OLD,
            target: str | None = None) -> None:
    """The event's deliveries (to ``target`` only, when given) end ``when``."""
    where = [OutboxDelivery.event_row_id == event_id]
    if target is not None:
        where.append(OutboxDelivery.target == target)
    with ctx.transaction() as session:
        session.execute(update(OutboxDelivery).where(*where).values(
            status=status, attempts=1, next_attempt_at=when,
            delivered_at=when if status == "delivered" else None))


def _events(ctx) -> set[int]:
    with ctx.transaction() as session:
        return set(session.scalars(select(OutboxEvent.id)))


def _deliveries(ctx) -> dict[int, str]:
    """Each delivery's event and status."""
    with ctx.transaction() as session:
        return {row.id: (row.event_row_id, row.status)
                for row in session.scalars(select(OutboxDelivery))}


def test_old_finished_rows_go_and_pending_and_young_rows_stay(ctx):
    tenant_id = seed(ctx)
    _endpoint(ctx, tenant_id)
    delivered, dead, pending = (_host_event(ctx, tenant_id, name)
                                for name in ("delivered", "dead", "pending"))
    sent, waiting = _message(ctx, tenant_id), _message(ctx, tenant_id)
    young, newest = _host_event(ctx, tenant_id, "young", YOUNG), \
        _host_event(ctx, tenant_id, "newest", YOUNG)
    _finish(ctx, delivered)
    _finish(ctx, dead, "dead")
    _finish(ctx, young, when=YOUNG)
    _finish(ctx, sent)
    before = _events(ctx)

    counts = retention.purge(ctx)

    assert before - _events(ctx) == {delivered, dead, sent}
    assert sorted(event_id for event_id, _ in _deliveries(ctx).values()) == sorted(
        [pending, young, newest, waiting])
    assert (counts["deliveries"], counts["host_events"], counts["messages"]) == (3, 2, 1)
    with ctx.transaction() as session:
        assert [row.id for row in feed(session, tenant_id)] == [pending, young, newest]
    assert retention.purge(ctx) == {}  # nothing more: a second run changes nothing


def test_an_event_stays_while_any_of_its_deliveries_is_pending(ctx):
    tenant_id = seed(ctx)
    first, second = _endpoint(ctx, tenant_id, 9), _endpoint(ctx, tenant_id, 10)
    shared = _host_event(ctx, tenant_id, "shared")
    later = _host_event(ctx, tenant_id, "later", YOUNG)
    _finish(ctx, shared, target=f"endpoint:{first}")  # the other one is still pending

    retention.purge(ctx)
    assert shared in _events(ctx)
    assert [status for event_id, status in _deliveries(ctx).values() if event_id == shared] \
        == ["pending"]

    _finish(ctx, shared, "dead", target=f"endpoint:{second}")
    retention.purge(ctx)
    assert shared not in _events(ctx) and later in _events(ctx)


def test_an_old_event_kept_for_its_delivery_holds_back_the_ones_after_it(ctx):
    """The feed never has a gap after an event it still serves: a host whose cursor is
    that event reads on without missing any."""
    tenant_id = seed(ctx)
    _endpoint(ctx, tenant_id)
    first, kept, after = (_host_event(ctx, tenant_id, name) for name in ("a", "b", "c"))
    _host_event(ctx, tenant_id, "young", YOUNG)
    _finish(ctx, first)
    _finish(ctx, after)  # its delivery goes; the event waits for the one before it

    retention.purge(ctx)
    assert first not in _events(ctx) and {kept, after} <= _events(ctx)
    with ctx.transaction() as session:
        assert [row.id for row in feed(session, tenant_id, after=kept, limit=1)] == [after]


def test_a_replayed_delivery_keeps_its_event_a_retention_longer(ctx):
    tenant_id = seed(ctx)
    _endpoint(ctx, tenant_id)
    replayed = _host_event(ctx, tenant_id, "replayed")
    _host_event(ctx, tenant_id, "later", YOUNG)
    _finish(ctx, replayed, when=YOUNG)  # sent again (and delivered) 89 days ago
    with ctx.transaction() as session:
        session.execute(update(OutboxDelivery).values(created_at=YOUNG))

    assert "deliveries" not in retention.purge(ctx)
    assert replayed in _events(ctx)


def test_the_tenants_newest_host_event_stays_so_an_idle_hosts_cursor_still_works(ctx):
    tenant_id = seed(ctx)
    older, newest = _host_event(ctx, tenant_id, "older"), _host_event(ctx, tenant_id, "newest")
    retention.purge(ctx)
    assert older not in _events(ctx) and newest in _events(ctx)
    with ctx.transaction() as session:
        assert feed(session, tenant_id, after=newest) == []
    later = _host_event(ctx, tenant_id, "later", dt.datetime.now(dt.UTC))
    with ctx.transaction() as session:
        assert [row.id for row in feed(session, tenant_id, after=newest)] == [later]


def test_rows_go_a_batch_per_transaction(ctx):
    tenant_id = seed(ctx)
    _endpoint(ctx, tenant_id)
    old = [_host_event(ctx, tenant_id, f"old {n}") for n in range(5)]
    messages = [_message(ctx, tenant_id) for _ in range(5)]
    for event_id in old + messages:
        _finish(ctx, event_id)
    _host_event(ctx, tenant_id, "young", YOUNG)
    _message(ctx, tenant_id, YOUNG)
    sent: list = []
    event.listen(ctx.engine, "after_cursor_execute", lambda _conn, cursor, statement, *_: sent
                 .append((statement.split()[2], cursor.rowcount))
                 if statement.startswith("DELETE") else None)
    event.listen(ctx.engine, "commit", lambda _connection: sent.append(("commit", 0)))

    counts = retention.purge(ctx, batch=2)

    assert (counts["deliveries"], counts["host_events"], counts["messages"]) == (10, 5, 5)
    transactions: list[dict[str, int]] = [{}]
    for table, rows in sent:
        if table == "commit":
            transactions.append({})
        else:
            transactions[-1][table] = transactions[-1].get(table, 0) + rows
    deleting = [t for t in transactions if any(t.values())]
    assert all(rows <= 2 for t in deleting for rows in t.values()), transactions
    # 10 deliveries in 5 transactions, 5 host events in 3 and 5 messages in 3.
    assert len(deleting) == counts["transactions"] == 11
    assert not set(old + messages) & _events(ctx)


def test_a_retention_of_0_days_keeps_everything(ctx):
    ctx.config = attrs.evolve(ctx.config, outbox_retention_days=0)
    tenant_id = seed(ctx)
    _endpoint(ctx, tenant_id)
    ancient = dt.datetime.now(dt.UTC) - dt.timedelta(days=3650)
    kept = [_host_event(ctx, tenant_id, name, ancient) for name in ("a", "b")]
    for event_id in kept:
        _finish(ctx, event_id, when=ancient)
    before, deliveries = _events(ctx), _deliveries(ctx)
    assert retention.purge(ctx) == {}
    assert _events(ctx) == before and _deliveries(ctx) == deliveries


def test_the_retention_is_a_setting_of_the_deployment():
    key = {"LOKET_SECRET_KEY": "k"}
    assert AppConfig.from_env(key).outbox_retention_days == 90
    assert AppConfig.from_env({**key, "LOKET_OUTBOX_RETENTION_DAYS": "30"}
                              ).outbox_retention_days == 30
    for wrong in ("-1", "ninety"):
        with pytest.raises(ConfigurationError, match="LOKET_OUTBOX_RETENTION_DAYS"):
            AppConfig.from_env({**key, "LOKET_OUTBOX_RETENTION_DAYS": wrong})


def test_the_retention_job_is_on_the_workers_schedule(ctx):
    from loket.jobs import make_huey, register
    jobs = register(make_huey(AppConfig(var_dir=ctx.config.var_dir)), ctx)
    tenant_id = seed(ctx)
    gone = _host_event(ctx, tenant_id, "gone")
    _host_event(ctx, tenant_id, "newest")
    assert jobs.periodic()["outbox-retention"].call_local()["host_events"] == 1
    assert gone not in _events(ctx)


def test_the_feeds_commit_rows_go_with_their_events(pg_ctx):
    ctx = pg_ctx
    tenant_id = seed(ctx)
    for name in ("a", "b", "c"):
        _host_event(ctx, tenant_id, name)
    with ctx.transaction() as session:
        positions = session.scalar(select(func.count()).select_from(OutboxFeedCommit))
    assert retention.purge(ctx)["feed_commits"] == 2
    with ctx.transaction() as session:
        assert session.scalar(select(func.count()).select_from(OutboxFeedCommit)) \
            == positions - 2
        assert [row.payload["data"]["payment"] for row in feed(session, tenant_id)] == ["c"]


def test_a_delivery_another_transaction_holds_is_skipped_not_waited_for(pg_ctx):
    """A replay has the dead delivery locked: the retention leaves it to a later run."""
    ctx = pg_ctx
    tenant_id = seed(ctx)
    _endpoint(ctx, tenant_id)
    free, held = _host_event(ctx, tenant_id, "free"), _host_event(ctx, tenant_id, "held")
    _host_event(ctx, tenant_id, "young", YOUNG)
    _finish(ctx, held, "dead")
    _finish(ctx, free, "dead")
    with Session(ctx.engine) as replay:
        replay.execute(select(OutboxDelivery).where(OutboxDelivery.event_row_id == held)
                       .with_for_update())
        assert retention.purge(ctx)["deliveries"] == 1
    assert {event_id for event_id, _ in _deliveries(ctx).values()} >= {held}
    assert free not in _events(ctx) and held in _events(ctx)
