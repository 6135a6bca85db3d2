"""The host events of a tenant as a feed a host polls (``GET /v1/host/events``), in the
order their transactions became visible, so a cursor never passes an event that commits
later (:mod:`loket.core.models.outbox_feed`).

The cursor is the id of the last event served. On PostgreSQL the events follow by the
position of their transaction's commit, then by id; events without a position (SQLite's,
and PostgreSQL's written before positions existed) come first, by id.

The outbox retention (:mod:`loket.core.outbox.retention`) deletes old events from the
start of the feed only: everything after an event the feed still has is there too, and a
cursor whose event is gone is refused (:class:`~loket.errors.Gone`) rather than read past
what was deleted.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from loket.core.models import OutboxEvent, OutboxFeedCommit
from loket.core.outbox.events import EventKind
from loket.errors import Gone

HOST_EVENT = EventKind.HOST_EVENT


def feed(session: Session, tenant_id: int, after: int = 0, limit: int = 100
         ) -> list[OutboxEvent]:
    """The tenant's host events after cursor ``after``, at most ``limit``, in feed order.

    Called by the feed endpoint on every poll. An event whose transaction is still open is
    not served yet; when it commits it takes its place after the events served meanwhile.

    :param after: the id of the last event the poller has (0: from the start).
    :raises Gone: naming ``after``, when it names no host event of the tenant's while the
        feed holds some: an event the retention deleted (the events after it may be gone
        too), or an id that was never a cursor of this feed. The detail tells where the
        feed now starts.
    """
    position = _position(session, tenant_id, after)
    if position is None and after > 0:
        _refuse_if_expired(session, tenant_id, after)
    return [row[0] for row in _page(session, tenant_id, after, position, limit,
                                    (OutboxEvent,))]


def head(session: Session, tenant_id: int, limit: int, *columns: Any) -> list[Row]:
    """The first ``limit`` host events of the tenant's feed, oldest first, as ``columns``
    (of :class:`~loket.core.models.OutboxEvent`, or expressions on it).

    Called by the retention, which deletes from the start of the feed, and for the 410's
    detail. Each row has the columns, then (for an event with one) its feed position.
    """
    return _page(session, tenant_id, 0, None, limit, columns)


def _page(session: Session, tenant_id: int, after: int, position: int | None, limit: int,
          columns: tuple) -> list[Row]:
    rows: list[Row] = []
    if not position:  # the start, an event without a position, or no event of the tenant's
        rows += session.execute(_unordered(tenant_id, columns).where(OutboxEvent.id > after)
                                .order_by(OutboxEvent.id).limit(limit))
        later = OutboxEvent.id > (after if position is None else 0)
    else:
        later = (OutboxFeedCommit.position > position) | (
            (OutboxFeedCommit.position == position) & (OutboxEvent.id > after))
    if len(rows) < limit:
        rows += session.execute(
            _ordered(tenant_id, columns).where(later)
            .order_by(OutboxFeedCommit.position, OutboxEvent.id).limit(limit - len(rows)))
    return rows


def _position(session: Session, tenant_id: int, after: int) -> int | None:
    """The position of the commit of host event ``after`` (0 for an event without one), or
    ``None`` when it is no host event of the tenant's."""
    if after <= 0:
        return None
    found = session.execute(
        select(OutboxEvent.id, OutboxFeedCommit.position).outerjoin(OutboxFeedCommit, (
            OutboxFeedCommit.xid == OutboxEvent.feed_xid)
            & (OutboxFeedCommit.tenant_id == OutboxEvent.tenant_id))
        .where(OutboxEvent.id == after, OutboxEvent.tenant_id == tenant_id,
               OutboxEvent.kind == HOST_EVENT)).first()
    if found is None:
        return None
    return found.position or 0


def _refuse_if_expired(session: Session, tenant_id: int, after: int) -> None:
    """Raise :class:`Gone` when cursor ``after`` (no host event of the tenant's) meets a
    feed that still holds events.

    The retention deletes from the start of the feed only, so every event left comes
    after the deleted cursor in feed order, whatever its id: an event with a lower id
    that committed later is one of them, so comparing ids would skip it.
    """
    first = head(session, tenant_id, 1, OutboxEvent.id, OutboxEvent.created_at)
    if not first:
        return
    raise Gone(f"after={after} names an event the feed no longer has (host events are "
               f"deleted after the installation's retention period), so events after it "
               f"may be gone too; the feed now goes back to "
               f"{first[0].created_at.strftime('%Y-%m-%d %H:%M')} UTC (cursor "
               f"{first[0].id}). Read it again from after=0, skipping the event ids you "
               f"already have", field="after")


def _unordered(tenant_id: int, columns: tuple):
    return select(*columns).where(OutboxEvent.tenant_id == tenant_id,
                                  OutboxEvent.kind == HOST_EVENT,
                                  OutboxEvent.feed_xid.is_(None))


def _ordered(tenant_id: int, columns: tuple):
    return select(*columns, OutboxFeedCommit.position).join(OutboxFeedCommit, (
        OutboxFeedCommit.xid == OutboxEvent.feed_xid)
        & (OutboxFeedCommit.tenant_id == OutboxEvent.tenant_id)).where(
        OutboxFeedCommit.tenant_id == tenant_id, OutboxEvent.kind == HOST_EVENT)
