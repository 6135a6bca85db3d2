"""The host events of a tenant as a feed a host polls (``GET /v1/host/events``), in the
order their transactions became visible, so a cursor never passes an event that commits
later (:mod:`loket.core.models.outbox_feed`).

The cursor is the id of the last event served. On PostgreSQL the events follow by the
position of their transaction's commit, then by id; events without a position (SQLite's,
and PostgreSQL's written before positions existed) come first, by id.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core.models import OutboxEvent, OutboxFeedCommit
from loket.core.outbox.events import EventKind

HOST_EVENT = EventKind.HOST_EVENT


def feed(session: Session, tenant_id: int, after: int = 0, limit: int = 100
         ) -> list[OutboxEvent]:
    """The tenant's host events after cursor ``after``, at most ``limit``, in feed order.

    Called by the feed endpoint on every poll. An event whose transaction is still open is
    not served yet; when it commits it takes its place after the events served meanwhile.

    :param after: the id of the last event the poller has (0: from the start). An id that
        is no event of the tenant's is read as an id: the events with a greater one.
    """
    position = _position(session, tenant_id, after)
    rows: list[OutboxEvent] = []
    if not position:  # the start, an event without a position, or no event of the tenant's
        rows += session.scalars(_unordered(tenant_id).where(OutboxEvent.id > after)
                                .order_by(OutboxEvent.id).limit(limit))
        later = OutboxEvent.id > (after if position is None else 0)
    else:
        later = (OutboxFeedCommit.position > position) | (
            (OutboxFeedCommit.position == position) & (OutboxEvent.id > after))
    if len(rows) < limit:
        rows += [row for row, _ in session.execute(
            _ordered(tenant_id).where(later).order_by(OutboxFeedCommit.position, OutboxEvent.id)
            .limit(limit - len(rows)))]
    return rows


def _position(session: Session, tenant_id: int, after: int) -> int | None:
    """The position of the commit of event ``after`` (0 for an event without one), or
    ``None`` when it is no event of the tenant's."""
    if after <= 0:
        return None
    found = session.execute(
        select(OutboxEvent.id, OutboxFeedCommit.position).outerjoin(OutboxFeedCommit, (
            OutboxFeedCommit.xid == OutboxEvent.feed_xid)
            & (OutboxFeedCommit.tenant_id == OutboxEvent.tenant_id))
        .where(OutboxEvent.id == after, OutboxEvent.tenant_id == tenant_id)).first()
    if found is None:
        return None
    return found.position or 0


def _unordered(tenant_id: int):
    return select(OutboxEvent).where(OutboxEvent.tenant_id == tenant_id,
                                     OutboxEvent.kind == HOST_EVENT,
                                     OutboxEvent.feed_xid.is_(None))


def _ordered(tenant_id: int):
    return select(OutboxEvent, OutboxFeedCommit.position).join(OutboxFeedCommit, (
        OutboxFeedCommit.xid == OutboxEvent.feed_xid)
        & (OutboxFeedCommit.tenant_id == OutboxEvent.tenant_id)).where(
        OutboxFeedCommit.tenant_id == tenant_id, OutboxEvent.kind == HOST_EVENT)
