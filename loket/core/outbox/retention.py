"""How long the outbox keeps what it has sent: ``LOKET_OUTBOX_RETENTION_DAYS`` (default 90;
0 keeps everything). The worker's hourly job (:func:`purge`) deletes, a batch of rows per
short transaction:

1. the deliveries that are finished (``delivered`` or ``dead``) and untouched for the
   retention: created, last tried and delivered before it;
2. each tenant's host events older than the retention that have no delivery left, from the
   start of its feed (:mod:`loket.core.outbox.feed`) up to the first event it keeps: the
   feed never has a gap after an event it still serves, so a host's cursor either names an
   event with everything after it still there, or one the feed has lost (answered 410). A
   tenant's newest host event stays, whatever its age: an idle host's cursor stays good;
3. the messages older than the retention that have no delivery left;
4. on PostgreSQL, the feed's commit rows (``outbox_feed_commits``) whose host events are gone.

A pending delivery is never deleted, and no event while any delivery of it is left
(replayed, its retention starts again). The deliveries are deleted by the index on
``(status, next_attempt_at)``, the events through their keys: no index of their own.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from sqlalchemy import delete, exists, func, or_, select, text
from sqlalchemy.orm import Session

from loket.core.models import OutboxDelivery, OutboxEvent, OutboxFeedCommit, Tenant
from loket.core.outbox import feed
from loket.core.outbox.events import DeliveryStatus, EventKind

BATCH = 2000
"""Rows deleted per transaction: each holds its locks for a moment, never the whole run."""

RUN_BUDGET = dt.timedelta(minutes=5)
"""How long one run goes on; what is left waits for the next run (hourly)."""

FINISHED = (DeliveryStatus.DELIVERED, DeliveryStatus.DEAD)
"""The delivery states nothing follows (but a replay, which makes a delivery young again)."""

RETENTION_LOCK = 74012027
"""With a tenant's id, the advisory lock (PostgreSQL) a run holds while it deletes a batch
of that tenant's host events: another run at the same time goes on to the next tenant."""

_HAS_DELIVERY = exists().where(OutboxDelivery.event_row_id == OutboxEvent.id)


class _Run:
    """One run: its cutoff, batch size, deadline and counts."""

    def __init__(self, ctx: Any, cutoff: dt.datetime, batch: int, budget: dt.timedelta):
        self.ctx = ctx
        self.cutoff = cutoff
        self.batch = batch
        self.deadline = time.monotonic() + budget.total_seconds()
        self.counts: dict[str, int] = {}

    def going(self) -> bool:
        """Whether the run may start another batch (its budget is not spent)."""
        if time.monotonic() < self.deadline:
            return True
        self.counts["stopped_by_budget"] = 1
        return False

    def add(self, **deleted: int) -> None:
        """Count what one transaction deleted (rows by table), and the transaction."""
        for what, count in deleted.items():
            if count:
                self.counts[what] = self.counts.get(what, 0) + count
        if any(deleted.values()):
            self.counts["transactions"] = self.counts.get("transactions", 0) + 1


def purge(ctx: Any, batch: int = BATCH, budget: dt.timedelta = RUN_BUDGET) -> dict[str, int]:
    """Apply the outbox retention: the worker's hourly job, also ``loket jobs run
    outbox-retention``. Idempotent; several runs at once share the work.

    :param batch: rows deleted per transaction.
    :param budget: how long the run may go on before it leaves the rest to the next run.
    :returns: the rows deleted (``deliveries``, ``host_events``, ``messages``,
        ``feed_commits``) and the ``transactions`` that deleted them, only those not 0;
        ``stopped_by_budget`` when rows may be left. Empty with a retention of 0 days.
    """
    days = ctx.config.outbox_retention_days
    if days <= 0:
        return {}
    run = _Run(ctx, ctx.now() - dt.timedelta(days=days), batch, budget)
    _delete_deliveries(run)
    with ctx.transaction() as session:
        tenant_ids = list(session.scalars(select(Tenant.id).order_by(Tenant.id)))
    for tenant_id in tenant_ids:
        _delete_host_events(run, tenant_id)
    _delete_messages(run)
    return run.counts


def _delete_deliveries(run: _Run) -> None:
    """The finished deliveries untouched since before the cutoff, a batch a transaction;
    one a replay took first is skipped (and one this run took waits for the replay)."""
    old = (OutboxDelivery.status.in_(FINISHED), OutboxDelivery.next_attempt_at < run.cutoff,
           OutboxDelivery.created_at < run.cutoff,
           or_(OutboxDelivery.delivered_at.is_(None), OutboxDelivery.delivered_at < run.cutoff),
           # SQLite hands the next row the highest id + 1: the newest row stays, so no
           # delivery id (in the API, in to-dos) is ever given twice.
           OutboxDelivery.id < select(func.max(OutboxDelivery.id)).scalar_subquery())
    while run.going():
        with run.ctx.transaction() as session:
            # Read, then deleted by id: a LIMIT inside the DELETE may be run again by
            # PostgreSQL, and take more than a batch.
            ids = list(session.scalars(select(OutboxDelivery.id).where(*old)
                                       .limit(run.batch).with_for_update(skip_locked=True)))
            if ids:
                session.execute(delete(OutboxDelivery).where(OutboxDelivery.id.in_(ids))
                                .execution_options(synchronize_session=False))
        run.add(deliveries=len(ids))
        if len(ids) < run.batch:
            return


def _delete_host_events(run: _Run, tenant_id: int) -> None:
    """The old host events of one tenant's feed without deliveries, from its start up to
    the first it keeps, a batch a transaction."""
    while run.going():
        with run.ctx.transaction() as session:
            if not _tenant_lock(session, tenant_id):
                return  # another run is at this tenant
            # One more than a batch: the last one read is never deleted (the tenant's
            # newest host event, or the first of the next batch).
            rows = feed.head(session, tenant_id, run.batch + 1, OutboxEvent.id,
                             OutboxEvent.created_at, OutboxEvent.feed_xid,
                             _HAS_DELIVERY.label("busy"))
            doomed = []
            for row in rows[:-1]:
                if row.busy or row.created_at >= run.cutoff:
                    break
                doomed.append(row)
            commits = 0
            if doomed:
                session.execute(delete(OutboxEvent).where(
                    OutboxEvent.id.in_([row.id for row in doomed]), ~_HAS_DELIVERY)
                    .execution_options(synchronize_session=False))
                commits = _delete_commits(session, tenant_id,
                                          {row.feed_xid for row in doomed} - {None})
        run.add(host_events=len(doomed), feed_commits=commits)
        if len(doomed) < run.batch:
            return


def _tenant_lock(session: Session, tenant_id: int) -> bool:
    """Take the tenant's :data:`RETENTION_LOCK` until the transaction ends (PostgreSQL;
    SQLite has one writer at a time). Returns whether it was free."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:key, :tenant)"),
                               {"key": RETENTION_LOCK, "tenant": tenant_id}))


def _delete_commits(session: Session, tenant_id: int, xids: set[int]) -> int:
    """Delete the tenant's feed positions of transactions ``xids`` that no host event of
    the tenant's needs any more. Returns how many."""
    if not xids:
        return 0
    needed = exists().where(OutboxEvent.feed_xid == OutboxFeedCommit.xid,
                            OutboxEvent.tenant_id == OutboxFeedCommit.tenant_id,
                            OutboxEvent.kind == EventKind.HOST_EVENT)
    result = session.execute(delete(OutboxFeedCommit).where(
        OutboxFeedCommit.tenant_id == tenant_id, OutboxFeedCommit.xid.in_(sorted(xids)),
        ~needed).execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def _delete_messages(run: _Run) -> None:
    """The old messages without deliveries, in id order below the first event of the
    retention (so the scan never reads the young rows), a batch a transaction."""
    with run.ctx.transaction() as session:
        bound = session.scalar(select(OutboxEvent.id).where(
            OutboxEvent.created_at >= run.cutoff).order_by(OutboxEvent.id).limit(1))
        # Without a young row, the newest row stays (ids are not given twice on SQLite).
        bound = bound or session.scalar(select(func.max(OutboxEvent.id)))
    last = 0
    while bound and run.going():
        with run.ctx.transaction() as session:
            ids = list(session.scalars(select(OutboxEvent.id).where(
                OutboxEvent.id > last, OutboxEvent.id < bound,
                OutboxEvent.kind == EventKind.MESSAGE, OutboxEvent.created_at < run.cutoff,
                ~_HAS_DELIVERY).order_by(OutboxEvent.id).limit(run.batch)
                .with_for_update(skip_locked=True)))
            if ids:
                session.execute(delete(OutboxEvent).where(
                    OutboxEvent.id.in_(ids), ~_HAS_DELIVERY)
                    .execution_options(synchronize_session=False))
        run.add(messages=len(ids))
        if len(ids) < run.batch:
            return
        last = ids[-1]
