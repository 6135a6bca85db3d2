"""The host events feed: served in the order their transactions became visible, so a host
polling from its last cursor never passes an event that commits later."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session
from support.engine import seed

from loket.core.models import OutboxEvent, OutboxFeedCommit
from loket.core.models.outbox_feed import FEED_LOCK
from loket.core.outbox import events
from loket.core.outbox.feed import feed


def _emit(session, tenant_id: int, name: str) -> OutboxEvent:
    event = events.emit(session, tenant_id, "payment.completed", {"payment": name},
                        f"payment:{name}")
    session.flush()
    return event


def _names(rows) -> list[str]:
    return [row.payload["data"]["payment"] for row in rows]


def test_the_feed_pages_from_the_cursor_in_order(ctx):
    tenant_id = seed(ctx)
    other = seed(ctx, slug="other")
    for name in ("A", "B", "C"):
        with ctx.transaction() as session:
            _emit(session, tenant_id, name)
            _emit(session, other, f"other {name}")
    with ctx.transaction() as session:
        first = feed(session, tenant_id, limit=2)
        rest = feed(session, tenant_id, after=first[-1].id)
        assert _names(first) == ["A", "B"] and _names(rest) == ["C"]
        assert feed(session, tenant_id, after=rest[-1].id) == []
        # A cursor that is no event of the tenant's is read as an id.
        assert feed(session, tenant_id, after=10**9) == []
        assert _names(feed(session, tenant_id, after=first[0].id - 1)) == ["A", "B", "C"]


@pytest.fixture
def pg(pg_ctx):
    return pg_ctx


def test_an_event_committed_after_a_later_one_is_served_after_it_not_skipped(pg):
    """Event ids are taken at insert: a long transaction (a settlement block, a webhook
    batch) writes a lower id and commits after a request that wrote a higher one."""
    ctx = pg
    tenant_id = seed(ctx)
    with ctx.transaction() as warm:
        _emit(warm, tenant_id, "before")
    with Session(ctx.engine) as slow:
        earlier = _emit(slow, tenant_id, "slow")  # takes its id now, commits last
        with ctx.transaction() as session:
            later = _emit(session, tenant_id, "quick")
        assert earlier.id < later.id
        with ctx.transaction() as session:
            seen = feed(session, tenant_id)
        assert _names(seen) == ["before", "quick"]  # the open transaction's event waits
        slow.commit()
    with ctx.transaction() as session:
        assert _names(feed(session, tenant_id, after=seen[-1].id)) == ["slow"]
        assert session.scalar(select(func.count()).select_from(OutboxFeedCommit)) == 3


def test_a_transaction_writing_for_two_tenants_is_in_both_feeds(pg):
    ctx = pg
    tenant_id, other = seed(ctx), seed(ctx, slug="other")
    with ctx.transaction() as session:
        for name in ("one", "two"):
            _emit(session, tenant_id, name)
            _emit(session, other, f"other {name}")
    with ctx.transaction() as session:
        assert _names(feed(session, tenant_id)) == ["one", "two"]
        assert _names(feed(session, other)) == ["other one", "other two"]


def test_events_written_before_positions_existed_come_first_by_id(pg):
    ctx = pg
    tenant_id = seed(ctx)
    with ctx.transaction() as session:
        old = [_emit(session, tenant_id, name) for name in ("old 1", "old 2")]
    with ctx.transaction() as session:
        session.execute(update(OutboxEvent).where(OutboxEvent.id.in_([e.id for e in old]))
                        .values(feed_xid=None))
        session.execute(text("DELETE FROM outbox_feed_commits"))
        _emit(session, tenant_id, "new")
    with ctx.transaction() as session:
        first = feed(session, tenant_id, limit=1)
        assert _names(first) == ["old 1"]
        assert _names(feed(session, tenant_id, after=first[0].id)) == ["old 2", "new"]
        assert _names(feed(session, tenant_id, after=old[1].id)) == ["new"]


def test_one_tenants_commits_never_wait_for_anothers(pg):
    """A tenant's commits that write host events take their feed positions one after the
    other; another tenant's commit alongside."""
    ctx = pg
    tenant_id, other = seed(ctx), seed(ctx, slug="other")
    committed = threading.Event()

    def other_commits():
        with ctx.transaction() as session:
            _emit(session, other, "other")
        committed.set()

    with ctx.engine.connect() as holder:  # as if a commit of `other` were under way
        holder.execute(text("SELECT pg_advisory_lock(:key, :tenant)"),
                       {"key": FEED_LOCK, "tenant": other})
        with ctx.transaction() as session:
            _emit(session, tenant_id, "mine")  # commits while the other tenant's is held
        waiting = threading.Thread(target=other_commits)
        waiting.start()
        assert not committed.wait(0.5)
        holder.execute(text("SELECT pg_advisory_unlock(:key, :tenant)"),
                       {"key": FEED_LOCK, "tenant": other})
        waiting.join(10)
    assert committed.is_set()
    with ctx.transaction() as session:
        assert _names(feed(session, tenant_id)) == ["mine"]
        assert _names(feed(session, other)) == ["other"]
