"""The host events feed: served in the order their transactions became visible, so a host
polling from its last cursor never passes an event that commits later."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session
from support.api import api, problem  # noqa: F401 - fixture
from support.engine import seed

from loket.core.models import OutboxEvent, OutboxFeedCommit
from loket.core.models.outbox_feed import FEED_LOCK
from loket.core.outbox import events, retention
from loket.core.outbox.feed import feed
from loket.errors import Gone

OLD = dt.datetime.now(dt.UTC) - dt.timedelta(days=100)


def _emit(session, tenant_id: int, name: str, now: dt.datetime | None = None) -> OutboxEvent:
    event = events.emit(session, tenant_id, "payment.completed", {"payment": name},
                        f"payment:{name}", now=now)
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
        # A cursor that was never an event of this feed is refused, not read as an id.
        someone_elses = feed(session, other)[0].id
        for cursor in (10**9, someone_elses):
            with pytest.raises(Gone):
                feed(session, tenant_id, after=cursor)
    empty = seed(ctx, slug="empty")
    with ctx.transaction() as session:
        assert feed(session, empty, after=10**9) == []


def _expired_feed(ctx, tenant_id: int) -> tuple[list[OutboxEvent], list[OutboxEvent]]:
    """Three events of 100 days ago, then three of today (each its own transaction), and
    the retention run: returns the deleted events and the kept ones."""
    written = []
    for name, when in (("old 1", OLD), ("old 2", OLD), ("old 3", OLD),
                       ("new 1", None), ("new 2", None), ("new 3", None)):
        with ctx.transaction() as session:
            written.append(_emit(session, tenant_id, name, when))
    assert retention.purge(ctx)["host_events"] == 3
    return written[:3], written[3:]


def test_a_cursor_the_retention_deleted_is_refused_not_read_past_a_gap(ctx):
    tenant_id = seed(ctx)
    gone, kept = _expired_feed(ctx, tenant_id)
    with ctx.transaction() as session:
        for cursor in gone:
            with pytest.raises(Gone) as refused:
                feed(session, tenant_id, after=cursor.id)
            assert refused.value.status == 410
            assert [e["field"] for e in refused.value.errors] == ["after"]
            assert f"after={cursor.id}" in refused.value.detail
            assert f"goes back to {kept[0].created_at:%Y-%m-%d %H:%M} UTC (cursor " \
                   f"{kept[0].id})" in refused.value.detail
        # What is kept pages as before, from the start or from a cursor it still has.
        first = feed(session, tenant_id, limit=2)
        assert _names(first) == ["new 1", "new 2"]
        assert _names(feed(session, tenant_id, after=first[-1].id)) == ["new 3"]
        assert feed(session, tenant_id, after=kept[-1].id) == []


def test_the_feed_endpoint_answers_410_naming_after(api):  # noqa: F811 - fixture
    gone, kept = _expired_feed(api.ctx, api.tenant_id)
    answer = api.get(f"/v1/host/events?after={gone[-1].id}", role="tenant_admin")
    assert answer.status_code == 410
    body = problem(answer)
    assert body["errors"][0]["field"] == "after" and f"cursor {kept[0].id}" in body["detail"]
    page = api.get("/v1/host/events", role="tenant_admin").json
    assert [item["cursor"] for item in page["items"]] == [str(e.id) for e in kept]


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


def test_a_deleted_cursor_followed_only_by_a_lower_id_is_refused_not_read_as_empty(pg):
    """The retention deleted the host's cursor; the one event left has a lower id (its
    transaction committed later), so it comes after the cursor in the feed."""
    ctx = pg
    tenant_id = seed(ctx)
    with Session(ctx.engine) as slow:
        later = _emit(slow, tenant_id, "slow").id  # taken now, committed last
        with ctx.transaction() as session:
            cursor = _emit(session, tenant_id, "old", OLD).id
        slow.commit()
    assert later < cursor
    assert retention.purge(ctx)["host_events"] == 1
    with ctx.transaction() as session:
        assert [row.id for row in feed(session, tenant_id)] == [later]
        with pytest.raises(Gone):
            feed(session, tenant_id, after=cursor)


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
