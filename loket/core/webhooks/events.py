"""Stored gateway events: applied to their payments once, retried with a backoff, waited
for when they name a payment loket does not have yet, replayed by staff, listed.

Event statuses: ``pending`` (to apply), ``processed``, ``ignored`` (the gateway's event needs
no action), ``dead`` (failed every attempt), ``orphan`` (no such payment). A failure leaves
the event ``pending`` with a backoff (:func:`backoff`); after
``AppConfig.webhook_max_attempts`` it is ``dead`` and a to-do for staff carries the error.
An event naming an unknown payment waits (attempts are not counted) and becomes ``orphan``
with a to-do after :data:`ORPHAN_AFTER`. The retry sweep (:func:`retry_due`) is run every
minute by the worker and once when a worker starts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.db import after_commit, optimistic, run_optimistically, savepoint
from loket.core.models import GatewayConfiguration, GatewayEventRow, WebhookDelivery
from loket.core.payments.invariants import check_deferred, defer_checks
from loket.core.settings import pin
from loket.core.states import EventStatus
from loket.core.todos import raise_todo
from loket.core.webhooks import outcomes, prefetch
from loket.errors import NotFound
from loket.money import Money
from loket.ops import logs, metrics
from loket.types import GatewayEvent

log = logging.getLogger("loket.core.webhooks.inbox")  # the inbox's log, as before the split

ORPHAN_AFTER = dt.timedelta(hours=24)
"""How long an event naming an unknown payment is retried before it becomes ``orphan``."""
WAIT_MIN = dt.timedelta(seconds=15)
WAIT_MAX = dt.timedelta(minutes=10)



class _UnknownPayment(Exception):
    """The event names a payment loket does not have (yet)."""


def event_from_payload(payload: dict) -> GatewayEvent:
    """Rebuild a :class:`GatewayEvent` from its stored JSON."""
    data = dict(payload)
    if data.get("amount"):
        data["amount"] = Money(data["amount"]["amount"], data["amount"]["currency"])
    if data.get("occurred_at"):
        data["occurred_at"] = dt.datetime.fromisoformat(data["occurred_at"])
    return GatewayEvent(**data)


def backoff(attempts: int) -> dt.timedelta:
    """Delay before the next attempt after ``attempts`` failures: 30 s, 1 min, 2 min …
    capped at 1 h."""
    return dt.timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def _wait_delay(waited: dt.timedelta) -> dt.timedelta:
    """Retry delay for an event whose payment is not there yet: half the time waited so
    far, between 15 s and 10 min."""
    return max(WAIT_MIN, min(WAIT_MAX, waited / 2))


def process_event(ctx, event_row_id: int, due_only: bool = False) -> str:
    """Apply one stored event. Idempotent: an event that is not ``pending`` (or, with
    ``due_only``, not yet due) is left alone, and the row lock lets one worker at a time in.

    A failure rolls back everything the event changed (a savepoint), and is recorded on
    the event in the same transaction, so two workers cannot both count it. The event's
    id, payment and tenant are bound to the log lines written meanwhile.

    :returns: the event's resulting status: processed, pending (will retry), dead or orphan.
    """
    with logs.scope():
        return _process_event(ctx, event_row_id, due_only)


def _process_event(ctx, event_row_id: int, due_only: bool) -> str:
    try:
        with ctx.transaction() as session:
            row = session.scalars(select(GatewayEventRow).where(
                GatewayEventRow.id == event_row_id).with_for_update()
                .execution_options(populate_existing=True)).one()
            logs.bind(event_id=row.event_id, payment=row.payment_number, tenant=row.tenant_id)
            if row.status != EventStatus.PENDING:
                return row.status
            now = ctx.now()
            if due_only and row.next_attempt_at and row.next_attempt_at > now:
                return row.status
            return apply_stored(ctx, session, row, now)
    except Exception as exc:  # noqa: BLE001 - the transaction itself failed (database down)
        log.warning("gateway event %s: transaction failed: %s", event_row_id, exc)
        try:
            with ctx.transaction() as session:
                row = session.get(GatewayEventRow, event_row_id, with_for_update=True)
                if row is None or row.status != EventStatus.PENDING:
                    return row.status if row else "missing"
                return _failed(ctx, session, row, exc)
        except Exception:  # noqa: BLE001 - still down: the event stays pending, due
            log.exception("gateway event %s: failure could not be recorded", event_row_id)
            return EventStatus.PENDING


def apply_stored(ctx, session, row: GatewayEventRow, now: dt.datetime,
                 config_row: GatewayConfiguration | None = None) -> str:
    """Apply a pending event the caller holds (locked, or inserted in this transaction).

    Called by :func:`process_event` and by the inbox for the events it just stored. A
    failure rolls back everything the event changed (a savepoint) and is recorded on the
    event in the caller's transaction, so two workers cannot both count it; in an
    optimistic session (:func:`applying`) it is raised instead, for the caller to run the
    transaction again.

    :param config_row: the event's gateway configuration, when the caller has it in this
        session already.

    :returns: the event's resulting status.
    """
    callbacks = session.info.setdefault("after_commit", [])
    mark = len(callbacks)
    try:
        with savepoint(session):
            if config_row is None:
                config_row = session.get(GatewayConfiguration, row.gateway_configuration_id)
                pin(session, config_row)  # the batch's next events read it again
            result = outcomes.apply_event(ctx, session, config_row,
                                          event_from_payload(row.payload))
            if result == outcomes.UNKNOWN_PAYMENT:
                raise _UnknownPayment()
    except _UnknownPayment:
        del callbacks[mark:]
        return _wait_for_payment(session, row, now)
    except Exception as exc:  # noqa: BLE001 - any failure is retried, then to staff
        if optimistic(session):  # nothing to undo it with: the caller runs it again
            raise
        del callbacks[mark:]
        return _failed(ctx, session, row, exc)
    row.status = EventStatus.PROCESSED
    row.processed_at = now
    row.attempts += 1
    row.last_error = None
    row.next_attempt_at = None
    kind, received_at = config_row.kind, row.received_at
    after_commit(session, lambda: metrics.observe_event_applied(kind, received_at, now))
    log.info("gateway event %s applied: %s", row.event_id, result)
    return row.status


def _message(exc: BaseException) -> str:
    detail = getattr(exc, "detail", None)
    return detail if isinstance(detail, str) else f"{type(exc).__name__}: {exc}"


def _failed(ctx, session, row: GatewayEventRow, exc: Exception) -> str:
    message = _message(exc)
    log.warning("gateway event %s (%s) failed: %s", row.id, row.event_id, message)
    row.attempts += 1
    row.last_error = message[:4000]
    if row.attempts >= ctx.config.webhook_max_attempts:
        row.status = EventStatus.DEAD
        row.next_attempt_at = None
        raise_todo(session, row.tenant_id, "webhook.dead",
                   f"Gateway event {row.event_id} could not be applied after "
                   f"{row.attempts} attempts", detail=message,
                   entity_type="gateway_event", entity_id=str(row.id),
                   dedupe_key=f"webhook-dead:{row.id}:{ctx.now().isoformat()}")
    else:
        row.next_attempt_at = ctx.now() + backoff(row.attempts)
    return row.status


def _wait_for_payment(session, row: GatewayEventRow, now: dt.datetime) -> str:
    waited = now - row.received_at
    named = row.payment_number or row.gateway_reference
    if waited >= ORPHAN_AFTER:
        row.status = EventStatus.ORPHAN
        row.next_attempt_at = None
        row.last_error = f"no payment {named!r} in loket after {ORPHAN_AFTER}"
        raise_todo(session, row.tenant_id, "webhook.unknown_payment",
                   f"Gateway event {row.event_id} names payment {named!r}, which loket "
                   f"does not have", detail="The payment may have been made outside loket. "
                   "Replay the event once the payment exists.",
                   entity_type="gateway_event", entity_id=str(row.id),
                   dedupe_key=f"webhook-orphan:{row.id}:{now.isoformat()}")
    else:
        row.last_error = f"waiting for payment {named!r}"
        row.next_attempt_at = now + _wait_delay(waited)
    return row.status


def due_events(ctx, limit: int = 100) -> list[int]:
    """Ids of pending events whose next attempt is due (for the retry sweep)."""
    with ctx.transaction() as session:
        return list(session.scalars(select(GatewayEventRow.id).where(
            GatewayEventRow.status == EventStatus.PENDING,
            GatewayEventRow.next_attempt_at <= ctx.now()).order_by(GatewayEventRow.id)
            .limit(limit)))


BATCH = 100
"""Events one :func:`apply_due_batch` applies in one transaction at most."""

CHANNEL = "loket_gateway_events"
"""The PostgreSQL channel on which the statement storing events for deferred apply tells the
worker's applier (:mod:`loket.jobs.applier`) that they are there."""


def apply_due_batch(ctx, limit: int = BATCH) -> dict[str, int]:
    """Apply the due pending events, oldest first, up to ``limit``, in one transaction (one
    commit for the batch).

    The batch first runs optimistically: no savepoints, and each payment's money invariants
    checked once, in its final state, before the commit. If anything fails (an event, an
    invariant), nothing of that try is written and the batch runs again with each event in
    a savepoint, so the one that fails is recorded and retried alone, as in
    :func:`apply_stored`.

    Called with ``LOKET_WEBHOOK_APPLY=deferred`` by the worker: on PostgreSQL by its
    applier (:mod:`loket.jobs.applier`) when the statement storing events announces them,
    elsewhere by its ``apply_events`` task, which the webhook endpoint enqueues after
    acknowledging a request. Workers running it at once take disjoint events (``SKIP
    LOCKED`` on PostgreSQL).

    :returns: how many events ended in each status.
    """
    try:
        return _apply_batch(ctx, limit, optimistically=True)
    except RunAgain as again:
        log.info("a batch of gateway events is applied again event by event: %s",
                 _message(again.__cause__ or again))
        return _apply_batch(ctx, limit, optimistically=False)


class RunAgain(Exception):
    """An optimistic application of events failed before its commit: nothing of it was
    written; the caller runs it again normally."""


@contextlib.contextmanager
def applying(session: Session, optimistically: bool) -> Iterator[None]:
    """The body of a transaction that applies events. ``optimistically``: without
    savepoints, each payment's money invariants checked once, in its final state, at the
    end of the block, and any failure raised as :class:`RunAgain` (the transaction then
    rolls back). Otherwise as it is: each event in a savepoint (:func:`apply_stored`)."""
    try:
        if optimistically:
            run_optimistically(session)
            defer_checks(session)
        yield
        if optimistically:
            check_deferred(session)
            session.flush()  # a write that fails makes it run again too
    except Exception as exc:
        if optimistically:
            raise RunAgain() from exc
        raise


def _apply_batch(ctx, limit: int, optimistically: bool) -> dict[str, int]:
    """One try of :func:`apply_due_batch`. ``optimistically``: what the events need read
    ahead in bulk (:mod:`prefetch`), and :func:`applying` optimistically."""
    counts: dict[str, int] = {}
    with logs.scope(), ctx.transaction() as session, applying(session, optimistically):
        rows = session.scalars(select(GatewayEventRow).where(
            GatewayEventRow.status == EventStatus.PENDING,
            GatewayEventRow.next_attempt_at <= ctx.now()).order_by(GatewayEventRow.id)
            .limit(limit).with_for_update(skip_locked=True)).all()
        if optimistically:
            prefetch.read_ahead(session, rows)
        for row in rows:
            status = apply_stored(ctx, session, row, ctx.now())
            counts[status] = counts.get(status, 0) + 1
    return counts


def retry_due(ctx, limit: int = 100) -> dict[str, int]:
    """Apply every due pending event once (the worker's sweep; idempotent).

    :returns: how many events ended in each status.
    """
    counts: dict[str, int] = {}
    for event_row_id in due_events(ctx, limit):
        status = process_event(ctx, event_row_id, due_only=True)
        counts[status] = counts.get(status, 0) + 1
    return counts


def replay(ctx, event_row_id: int, actor: audit.Actor = audit.SYSTEM,
           tenant_id: int | None = None) -> str:
    """Put an event back in the queue and apply it now (staff action; audited).

    A processed event replayed changes nothing: the payment already knows the fact. An
    orphan replayed before its payment exists becomes orphan again at once.

    :param tenant_id: when given, an event of another tenant is not found.
    :raises NotFound: no such event (for this tenant).
    """
    with ctx.transaction() as session:
        row = session.get(GatewayEventRow, event_row_id, with_for_update=True)
        if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
            raise NotFound(f"no gateway event {event_row_id}")
        before = {"status": row.status, "attempts": row.attempts}
        row.status = EventStatus.PENDING
        row.attempts = 0
        row.next_attempt_at = ctx.now()
        audit.record(session, actor, "webhook.replayed", "gateway_event", row.id,
                     before=before, after={"status": "pending"}, tenant_id=row.tenant_id)
    return process_event(ctx, event_row_id)


def event_summary(row: GatewayEventRow) -> dict:
    """The list view of a stored event."""
    return {"id": row.id, "tenant_id": row.tenant_id,
            "gateway_configuration_id": row.gateway_configuration_id,
            "event_id": row.event_id, "type": row.event_type,
            "payment_id": row.payment_number, "gateway_reference": row.gateway_reference,
            "status": row.status, "attempts": row.attempts, "last_error": row.last_error,
            "received_at": row.received_at,
            "next_attempt_at": row.next_attempt_at,
            "processed_at": row.processed_at}


def list_events(ctx, tenant_id: int | None = None, status: str | None = None,
                limit: int = 50, before_id: int | None = None) -> list[dict]:
    """Stored events, newest first, for ``loket webhooks list`` and the API.

    :param before_id: page on: only events with a smaller id.
    """
    query = select(GatewayEventRow).order_by(GatewayEventRow.id.desc()).limit(limit)
    if tenant_id is not None:
        query = query.where(GatewayEventRow.tenant_id == tenant_id)
    if status is not None:
        query = query.where(GatewayEventRow.status == status)
    if before_id is not None:
        query = query.where(GatewayEventRow.id < before_id)
    with ctx.transaction() as session:
        return [event_summary(r) for r in session.scalars(query)]


def show_event(ctx, event_row_id: int, tenant_id: int | None = None) -> dict:
    """One event with its normalized payload and the request it came in (headers, body),
    for ``loket webhooks show``: the webhook URL's token in the path and the headers named
    like a secret (signature, token, authorization …) masked, as in the logs.

    :raises NotFound: no such event (for this tenant).
    """
    with ctx.transaction() as session:
        row = session.get(GatewayEventRow, event_row_id)
        if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
            raise NotFound(f"no gateway event {event_row_id}")
        out = event_summary(row)
        out["payload"] = row.payload
        delivery = session.get(WebhookDelivery, row.delivery_id) if row.delivery_id else None
        if delivery is not None:
            out["delivery"] = {"id": delivery.id, "path": logs.scrub_text(delivery.path),
                               "headers": logs.redact(None, "", dict(delivery.headers or {})),
                               "verdict": delivery.verdict,
                               "received_at": delivery.received_at,
                               "body": delivery.body.decode("utf-8", "replace")}
        return out
