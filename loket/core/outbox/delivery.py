"""The outbox worker: delivers pending deliveries at least once, in order per target and
ordering key, with exponential backoff for three days.

A delivery is taken with a lease (``leased_until``) in a short transaction, sent outside
any transaction, and its outcome written in another; a worker that dies mid-way leaves the
lease to expire, and the delivery is sent again (receivers deduplicate on the event id).
A send to an endpoint ends well within the lease
(:data:`~loket.core.outbox.posting.SEND_DEADLINE`), and an outcome is written only while
its attempt still holds the lease it claimed. Only the oldest pending delivery of each
``(target, ordering_key)`` is eligible, so a host sees a payment's events in the order they
were written, even after failures.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from loket.core.models import HostWebhookEndpoint, OutboxDelivery, OutboxEvent
from loket.core.outbox import endpoints, posting
from loket.core.outbox.events import DeliveryStatus, EventKind, notification_of
from loket.core.outbox.posting import Outcome
from loket.core.todos import raise_todo
from loket.errors import Conflict, Undeliverable

log = logging.getLogger(__name__)

FIRST_RETRY = dt.timedelta(seconds=30)
MAX_BACKOFF = dt.timedelta(hours=6)
GIVE_UP_AFTER = dt.timedelta(days=3)
LEASE = dt.timedelta(minutes=2)
"""How long an attempt owns its delivery: well over a send (to an endpoint at most
:data:`~loket.core.outbox.posting.SEND_DEADLINE`, an e-mail a minute)."""
TARGET_BUDGET = dt.timedelta(seconds=60)
"""How long the attempts at one target (an endpoint, an address) may take in one run; its
other deliveries then wait for the next run, so a slow receiver holds back only its own."""


def backoff(attempts: int) -> dt.timedelta:
    """Wait before the next try after ``attempts`` failed ones: 30 s, 1 min, 2 min, … at
    most 6 hours."""
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def _heads(session: Session, now: dt.datetime, limit: int, event_row_id: int | None = None
           ) -> list[tuple[int, str]]:
    """The due deliveries that are first of their order (no earlier pending delivery to the
    same target with the same ordering key), oldest first, at most ``limit`` (only those of
    one event when ``event_row_id`` is given), as ``(id, target)``: a receiver that is down
    holds back its own deliveries, never another's."""
    earlier = aliased(OutboxDelivery)
    query = select(OutboxDelivery.id, OutboxDelivery.target)
    if event_row_id is not None:
        query = query.where(OutboxDelivery.event_row_id == event_row_id)
    return [(row.id, row.target) for row in session.execute(query.where(
        OutboxDelivery.status == DeliveryStatus.PENDING, OutboxDelivery.next_attempt_at <= now,
        or_(OutboxDelivery.leased_until.is_(None), OutboxDelivery.leased_until <= now),
        ~exists().where(earlier.target == OutboxDelivery.target,
                        earlier.ordering_key == OutboxDelivery.ordering_key,
                        earlier.id < OutboxDelivery.id,
                        earlier.status == DeliveryStatus.PENDING))
        .order_by(OutboxDelivery.id).limit(limit))]


def claim(session: Session, delivery_id: int, now: dt.datetime,
          lease: dt.datetime | None = None) -> bool:
    """Take a delivery for one attempt until ``lease`` (default: ``now`` + :data:`LEASE`);
    atomic: of two workers, one gets it."""
    result = session.execute(update(OutboxDelivery).where(
        OutboxDelivery.id == delivery_id, OutboxDelivery.status == DeliveryStatus.PENDING,
        (OutboxDelivery.leased_until.is_(None)) | (OutboxDelivery.leased_until <= now))
        .values(leased_until=lease or now + LEASE).execution_options(synchronize_session=False))
    return bool(getattr(result, "rowcount", 0) == 1)


def deliver_due(ctx: Any, limit: int = 100) -> dict[str, int]:
    """Try every due delivery once (the periodic task; also ``loket outbox deliver``).

    :returns: counts of ``delivered``, ``retrying`` and ``dead``; ``deferred`` for those
        left to the next run because their target used up :data:`TARGET_BUDGET`, ``failed``
        for attempts that raised (logged; tried again once their lease lapses).
    """
    now = ctx.now()
    with ctx.transaction() as session:
        heads = _heads(session, now, limit)
    return _attempt_all(ctx, heads)


def deliver_event(ctx: Any, event_row_id: int) -> dict[str, int]:
    """Try the deliveries of one event now (right after its transaction committed), each
    only if it is the head of its order; whatever fails is left to the worker."""
    now = ctx.now()
    with ctx.transaction() as session:
        heads = _heads(session, now, 100, event_row_id)
    return _attempt_all(ctx, heads)


def _attempt_all(ctx: Any, heads: list[tuple[int, str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    spent: dict[str, float] = {}
    for delivery_id, target in heads:
        if spent.get(target, 0.0) >= TARGET_BUDGET.total_seconds():
            counts["deferred"] = counts.get("deferred", 0) + 1
            continue
        started = time.monotonic()
        try:
            result = attempt(ctx, delivery_id)
        except Exception:  # noqa: BLE001 - one delivery must not stop the others
            log.exception("outbox delivery %s: the attempt failed", delivery_id)
            result = "failed"
        spent[target] = spent.get(target, 0.0) + time.monotonic() - started
        if result:
            counts[result] = counts.get(result, 0) + 1
    return counts


def attempt(ctx: Any, delivery_id: int,
            send: Callable[[Any, OutboxDelivery, OutboxEvent], Outcome] | None = None
            ) -> str | None:
    """Claim, send and record one delivery. Whatever keeps it from being sent (the
    receiver, an endpoint secret that no configured key decrypts, a plugin that raises) is
    a failed attempt, retried with backoff.

    :returns: ``delivered``, ``retrying``, ``dead``, or ``None`` when another worker has it
        (or took it over while this attempt ran: its outcome is then not recorded).
    """
    now = ctx.now()
    lease = now + LEASE
    with ctx.transaction() as session:
        if not claim(session, delivery_id, now, lease):
            return None
        delivery = session.get(OutboxDelivery, delivery_id)
        event = session.get(OutboxEvent, delivery.event_row_id)
        endpoint = (session.get(HostWebhookEndpoint, delivery.endpoint_id)
                    if delivery.endpoint_id is not None else None)
        session.expunge_all()
    try:
        if endpoint is None:
            outcome = (send or _send)(ctx, delivery, event)
        else:
            outcome = _post(ctx, delivery, endpoint, event)
    except Undeliverable as exc:  # refused for good: retrying cannot help
        outcome = Outcome(False, error=f"refused for good: {exc.detail}"[:500], final=True)
    except Exception as exc:  # noqa: BLE001 - any failure is retried, never lost
        if endpoint is None:
            outcome = Outcome(False, error=f"{type(exc).__name__}: {exc}"[:500])
        else:  # its tenant reads the error: the operator reads the log
            log.exception("outbox delivery %s to endpoint %s could not be sent",
                          delivery_id, endpoint.id)
            outcome = Outcome(False, error=posting.NOT_PREPARED)
    return record(ctx, delivery_id, outcome, lease)


def _post(ctx: Any, delivery: OutboxDelivery, endpoint: HostWebhookEndpoint,
          event: OutboxEvent) -> Outcome:
    now = ctx.now()  # which secrets sign, and the signature's time
    return posting.post_signed(delivery.recipient or "",
                               endpoints.signing_secrets(ctx, endpoint, now), event,
                               int(now.timestamp()),
                               allow_private=ctx.config.host_webhooks_allow_private)


def _send(ctx: Any, delivery: OutboxDelivery, event: OutboxEvent) -> Outcome:
    if event.kind != EventKind.MESSAGE:
        return Outcome(False, error=posting.ENDPOINT_GONE)
    notification = notification_of(event)
    options = {**ctx.config.channel_options, "var_dir": str(ctx.config.var_dir)}
    reference = ctx.plugins.channel_send(delivery.channel, delivery.recipient or "",
                                         notification, options)
    return Outcome(True, reference=str(reference) if reference not in (None, True) else None)


def record(ctx: Any, delivery_id: int, outcome: Outcome, lease: dt.datetime) -> str | None:
    """Write an attempt's outcome: delivered, or the next try after a backoff (dead after
    three days of failures) — only while the attempt still holds its ``lease`` (the
    ``leased_until`` its claim wrote).

    :returns: ``delivered``, ``retrying`` or ``dead``; ``None`` when another worker took
        the delivery over, or it was replayed or dropped, meanwhile (nothing written).
    """
    now = ctx.now()
    with ctx.transaction() as session:
        delivery = session.get(OutboxDelivery, delivery_id, with_for_update=True)
        if delivery is None or delivery.status != DeliveryStatus.PENDING \
                or delivery.leased_until != lease:
            log.warning("outbox delivery %s: its lease was lost during the attempt; the "
                        "outcome (%s) is not recorded", delivery_id,
                        "delivered" if outcome.delivered else outcome.error)
            return None
        delivery.attempts += 1
        delivery.leased_until = None
        delivery.last_status_code = outcome.status_code
        if outcome.delivered:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = now
            delivery.last_error = None
            delivery.provider_reference = outcome.reference
            return "delivered"
        delivery.last_error = outcome.error
        if outcome.final or now - delivery.created_at >= GIVE_UP_AFTER:
            delivery.status = DeliveryStatus.DEAD
            log.warning("outbox delivery %s given up after %s attempts: %s", delivery_id,
                        delivery.attempts, outcome.error)
            _given_up(session, delivery, now, outcome.final)
            return "dead"
        delivery.next_attempt_at = now + backoff(delivery.attempts)
        return "retrying"


def _given_up(session: Session, delivery: OutboxDelivery, now: dt.datetime,
              refused: bool = False) -> None:
    """A to-do for staff, one per target and day however many of its deliveries die
    (``refused``: the receiver refused one for good, rather than after days of retries)."""
    where = (f"endpoint {delivery.endpoint_id} ({delivery.recipient})"
             if delivery.endpoint_id is not None else f"{delivery.channel} {delivery.recipient}")
    # A target is up to 300 characters: the key names it by a digest (to-do keys are 200).
    receiver = hashlib.sha256(delivery.target.encode()).hexdigest()[:32]
    raise_todo(session, delivery.tenant_id, "outbox.dead",
               f"Deliveries to {where} refused for good" if refused else
               f"Deliveries to {where} given up after {GIVE_UP_AFTER.days} days of retries",
               detail=f"Last error: {delivery.last_error}. Each can be sent again once the "
                      f"receiver is fixed (a host endpoint's deliveries: POST /v1/host/"
                      f"webhook-endpoints/{{id}}/deliveries/{{delivery}}/replay).",
               entity_type="outbox_delivery", entity_id=str(delivery.id),
               dedupe_key=f"outbox-dead:{delivery.tenant_id}:{receiver}:{now.date().isoformat()}")


def replay(session: Session, delivery: OutboxDelivery, now: dt.datetime) -> OutboxDelivery:
    """Send a delivery again (staff or the host asked): back to pending, due now."""
    if delivery.status == DeliveryStatus.PENDING:
        raise Conflict("the delivery is still pending; the worker sends it", field="status")
    delivery.status = DeliveryStatus.PENDING
    delivery.next_attempt_at = now
    delivery.created_at = now  # its days of retries start again
    delivery.leased_until = None
    return delivery
