"""Gateway outcomes: apply a normalized event (webhook or status poll) to its payment.

Each event adds a *fact* to the payment (money taken, settled, failed, refunded); the state
follows from the facts (:mod:`loket.core.payments.lifecycle`), so duplicates and reordering cannot
move a payment backwards. The payment row is locked first, so concurrent deliveries of the
same event apply it once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload

from loket import types as t
from loket.core.db import NotOptimistic, insert_if_absent, optimistic
from loket.core.gateway_configs import configs
from loket.core.gateway_configs.connection_test import finish_connection_test
from loket.core.models import (
    GatewayConfiguration,
    Payment,
    Refund,
    SettlementRecord,
)
from loket.core.payments import batch_reads, disputes, service_tasks
from loket.core.payments.application import GATEWAY, apply_intended
from loket.core.payments.invariants import check_invariants, pending_refunds
from loket.core.payments.posting import (
    refresh_state,
    snapshot,
    take_number,
)
from loket.core.payments.refunds import record_refund
from loket.core.reconciliation import unmatched
from loket.core.settings import load_settings, pin
from loket.core.states import ApplicationState
from loket.core.todos import raise_todo
from loket.errors import LoketError, ValidationFailed
from loket.money import Money
from loket.types import EventType, GatewayEvent, RefundStatus

if TYPE_CHECKING:
    from loket.core.context import Loket

log = logging.getLogger(__name__)

APPLIED = "applied"
UNKNOWN_PAYMENT = "unknown_payment"
NOTHING = "nothing"
MISMATCH = "mismatch"
KEEP = ("", None, t.KEEP, "(keep the previous)")


def find_payment(session: Session, row: GatewayConfiguration, event: GatewayEvent
                 ) -> Payment | None:
    """The payment an event names: by loket's number, else by the gateway's reference —
    only among the payments made through this configuration (a gateway can never move
    another gateway's or another tenant's payment).

    The payment comes locked (PostgreSQL) and re-read: the caller goes on to change it (or
    from what the caller's batch read ahead and locked, :mod:`batch_reads`).
    """
    reads = batch_reads.of(session)
    if reads is not None:
        ahead = reads.take_payment(row.id, event.payment_id, event.gateway_reference)
        if ahead is not None:
            return ahead
    if event.payment_id:
        found = session.scalar(_BY_NUMBER, {"tenant_id": row.tenant_id, "config_id": row.id,
                                            "number": event.payment_id})
        if found is not None:
            return found
    if event.gateway_reference:
        return session.scalar(_BY_REFERENCE, {"config_id": row.id,
                                              "reference": event.gateway_reference})
    return None


def _locked(query):
    # The payment's consumer comes in the same statement: every change of a payment reads
    # it (its host event, its messages). Only the payment's row is locked.
    return (query.options(joinedload(Payment.consumer)).with_for_update(of=Payment)
            .execution_options(populate_existing=True))


_BY_NUMBER = _locked(select(Payment).where(
    Payment.tenant_id == bindparam("tenant_id"),
    Payment.gateway_configuration_id == bindparam("config_id"),
    Payment.number == bindparam("number")))
_BY_REFERENCE = _locked(select(Payment).where(
    Payment.gateway_configuration_id == bindparam("config_id"),
    Payment.gateway_reference == bindparam("reference")))


def audit_action(event_type: str) -> str:
    """The audit action for a payment changed by a gateway event: its type when already
    about payments (``payment.succeeded``), else under ``payment.`` (``payment.refund.failed``)."""
    return event_type if event_type.startswith("payment.") else f"payment.{event_type}"


def apply_event(ctx, session: Session, row: GatewayConfiguration, event: GatewayEvent) -> str:
    """Apply one normalized event inside the caller's transaction.

    :returns: ``applied``, ``nothing`` (ignored, or a fact already known), ``mismatch``
        (a settlement that does not match its payment: a to-do, nothing completed) or
        ``unknown_payment`` (no such payment yet: the caller keeps the event to retry).
    """
    if event.type == EventType.IGNORED:
        return NOTHING
    if event.type == t.EVENT_SETTLEMENT_FAILED and not (event.payment_id or
                                                         event.gateway_reference):
        return _payout_failed(ctx, session, row, event)
    payment = find_payment(session, row, event)
    if payment is None:
        return UNKNOWN_PAYMENT
    if event.type in disputes.DISPUTE_EVENTS:  # the dispute moves its payment itself
        return APPLIED if disputes.apply_gateway_event(ctx, session, GATEWAY, payment,
                                                       event) else NOTHING
    handler = APPLY.get(event.type)
    if handler is None:
        return NOTHING
    if payment.consumer is not None:  # read by several steps below: loaded once
        pin(session, payment.consumer)
    before = snapshot(payment)
    changed = handler(ctx, session, row, payment, event)
    if changed == MISMATCH:
        return MISMATCH
    if not changed:
        return NOTHING
    if event.raw_status:
        mapping = ctx.plugins.map_status(configs.config_value(ctx, session, row),
                                         event.raw_status)
        if mapping.webhook_status not in KEEP:
            payment.gateway_details = {**(payment.gateway_details or {}),
                                       "webhook_status": mapping.webhook_status}
        if mapping.settlement_status not in KEEP:
            _raise_settlement_status(payment, mapping.settlement_status)
    refresh_state(ctx, session, GATEWAY, payment, audit_action(event.type), before)
    check_invariants(session, payment)
    if payment.is_test and payment.succeeded_at and payment.refunded == 0 \
            and not pending_refunds(session, payment):
        if optimistic(session):  # its refund goes to the gateway: only once, checked first
            raise NotOptimistic("a connection test is refunded at the gateway")
        finish_connection_test(ctx, session, row, payment)
    return APPLIED


def _attempt_declined(payment: Payment, event: GatewayEvent) -> bool:
    """A declined attempt on a checkout that is still open: keep the gateway's words for the
    payer; the payment stays open (the payer may try again)."""
    if not event.failure_message or payment.succeeded_at is not None:
        return False
    attempt = {"message": event.failure_message, "code": event.failure_code,
               "category": event.failure_category}
    if (payment.gateway_details or {}).get("last_declined_attempt") == attempt:
        return False
    payment.gateway_details = {**(payment.gateway_details or {}),
                               "last_declined_attempt": attempt}
    return True


def _settlement_mismatch(session: Session, row: GatewayConfiguration, payment: Payment,
                         event: GatewayEvent) -> bool:
    """A settlement for another amount than the payment took is not a settlement of it: the
    line is kept unmatched and staff get a to-do. (Amounts in another currency cannot be
    compared here; the gateway plugin reports them in the payment's currency.)"""
    if event.amount is None or event.amount.currency != payment.currency or \
            event.amount.amount == payment.amount_received or payment.completed_at:
        return False
    raise_todo(session, payment.tenant_id, "settlement.amount_mismatch",
               f"{row.kind} settled {event.amount} for payment {payment.number}, which took "
               f"{Money(payment.amount_received, payment.currency)}", entity_type="payment",
               entity_id=payment.number,
               dedupe_key=f"settle-mismatch:{payment.id}:{event.payout_reference or ''}")
    return True


def _settlement_failed(session: Session, payment: Payment, event: GatewayEvent) -> bool:
    if payment.settlement_status == "Failed":
        return False
    payment.settlement_status = "Failed"
    raise_todo(session, payment.tenant_id, "settlement.failed",
               f"The payout {event.payout_reference or ''} with payment {payment.number} "
               f"failed", detail=event.failure_message or "", entity_type="payment",
               entity_id=payment.number,
               dedupe_key=f"payout-failed:{payment.id}:{event.payout_reference or ''}")
    return True


def _payout_failed(ctx, session: Session, row: GatewayConfiguration,
                   event: GatewayEvent) -> str:
    """A failed payout named only by its reference: every payment it carried."""
    if not event.payout_reference:
        return NOTHING
    numbers = session.scalars(select(Payment.number).where(
        Payment.gateway_configuration_id == row.id,
        Payment.payout_reference == event.payout_reference)).all()
    results = [apply_event(ctx, session, row, attrs.evolve(
        event, payment_id=number, event_id=f"{event.event_id}:{number}")) for number in numbers]
    return APPLIED if APPLIED in results else (UNKNOWN_PAYMENT if not numbers else NOTHING)


def _refund_failed(session: Session, payment: Payment, event: GatewayEvent) -> bool:
    """A refund the gateway accepted, then failed: the money did not go back. Staff decide
    (refund again, or by hand); loket does not silently re-open the bills."""
    refund = session.scalar(select(Refund).where(
        Refund.payment_id == payment.id, Refund.gateway_reference == event.refund_reference))
    if refund is not None and refund.status == RefundStatus.FAILED:
        return False
    if refund is not None:
        refund.status = RefundStatus.FAILED
    raise_todo(session, payment.tenant_id, "payment.refund_failed",
               f"A refund of payment {payment.number} failed at the gateway",
               detail=event.failure_message or (event.refund_reference or ""),
               entity_type="payment", entity_id=payment.number,
               dedupe_key=f"refund-failed:{payment.id}:{event.refund_reference}")
    return True


# Settlement status only moves forward, so reordered events cannot undo a settlement.
SETTLEMENT_RANK = t.SETTLEMENT_RANK


def _raise_settlement_status(payment: Payment, status: str) -> bool:
    current = SETTLEMENT_RANK.get(payment.settlement_status or "N/A", 0)
    if SETTLEMENT_RANK.get(status, 0) <= current:
        return False
    payment.settlement_status = status
    return True


def _money_taken(ctx, session: Session, payment: Payment, event: GatewayEvent,
                 check_amount: bool) -> bool:
    if payment.succeeded_at is not None:
        return False
    details = dict(payment.gateway_details or {})
    details.update({k: v for k, v in event.details.items() if k not in ("fee", "net")})
    payment.gateway_details = details
    if event.gateway_reference and not payment.gateway_reference:
        payment.gateway_reference = event.gateway_reference
    payment.succeeded_at = event.occurred_at or ctx.now()
    payment.paid_at = payment.succeeded_at
    _raise_settlement_status(payment, "In Progress")
    if check_amount and event.amount is not None and event.amount != Money(
            payment.amount_received, payment.currency):
        payment.application_state = ApplicationState.ERROR
        payment.gateway_details = {**(payment.gateway_details or {}),
                                   "amount_taken": event.amount.amount}
        raise_todo(session, payment.tenant_id, "payment.amount_mismatch",
                   f"Payment {payment.number}: gateway reports {event.amount}, expected "
                   f"{Money(payment.amount_received, payment.currency)}",
                   entity_type="payment", entity_id=payment.number)
        return True
    if payment.is_test:
        payment.application_state = ApplicationState.APPLIED
        return True
    if service_tasks.defer_if_configured(session, payment):
        return True
    apply_intended(ctx, session, payment)
    return True


def _settled(ctx, session: Session, row: GatewayConfiguration, payment: Payment,
             event: GatewayEvent) -> bool:
    if payment.completed_at is not None:
        return False
    now = ctx.now()
    payment.completed_at = event.occurred_at or now
    _raise_settlement_status(payment, "Success")
    payment.payout_reference = event.payout_reference
    foreign = {k: v for k, v in event.details.items() if k.startswith("settlement_")
               or k == "exchange_rate"}
    if foreign:  # settled in another currency: kept as the gateway said it, not as ours
        payment.gateway_details = {**(payment.gateway_details or {}), **foreign}
    fee, net = event.details.get("fee"), event.details.get("net")
    payment.settled_fee = int(fee) if fee is not None else None
    payment.settled_net = int(net) if net is not None else None
    if payment.succeeded_at:
        days = (payment.completed_at - payment.succeeded_at).days
        details = dict(payment.gateway_details or {})
        details["processing_time"] = f"{days} day{'s' if days != 1 else ''}"
        payment.gateway_details = details
    if payment.receipt_number is None and not payment.is_test:
        settings = load_settings(session, payment.tenant_id)
        payment.receipt_number = take_number(session, settings, payment.tenant_id, "receipt",
                                             now)
    amount = payment.amount_received
    record = {"tenant_id": payment.tenant_id, "gateway_configuration_id": row.id,
              "payment_id": payment.id,
              "gateway_reference": payment.gateway_reference or payment.number,
              "payout_reference": event.payout_reference or "", "amount": amount,
              "fee": payment.settled_fee or 0,
              "net": payment.settled_net if payment.settled_net is not None else amount,
              "currency": payment.currency, "matched": True, "settled_at": payment.completed_at}
    if insert_if_absent(session, SettlementRecord, record, unmatched.RECORD_KEY) is None:
        # a line of this payout was kept unmatched before (its payment not known then)
        unmatched.take_over(session, row, [(payment.number, record)], now)
    return True


def _failed(payment: Payment, event: GatewayEvent) -> bool:
    if payment.failure_category is not None or payment.succeeded_at is not None:
        return False  # the first failure is kept; a failure after success changes nothing
    payment.failure_category = event.failure_category or (
        "expired" if event.type == t.EVENT_EXPIRED else "declined")
    payment.failure_message = event.failure_message or (
        "The checkout expired before it was paid" if event.type == t.EVENT_EXPIRED else None)
    payment.failure_code = event.failure_code
    return True


def _refunded(session: Session, payment: Payment, event: GatewayEvent,
              now: dt.datetime) -> bool:
    if payment.succeeded_at is None or event.amount is None:
        return False
    try:
        if event.amount.currency != payment.currency:
            raise ValidationFailed(f"the refund is in {event.amount.currency}, the payment "
                                   f"in {payment.currency}", field="amount")
        # Without the gateway's refund id, the event id is the only key that stops a
        # re-delivery of this same event from refunding twice.
        return record_refund(session, payment, event.amount.amount,
                             event.refund_reference or f"event:{event.event_id}",
                             "succeeded", "reported by the gateway", "gateway", now=now)
    except LoketError as exc:
        raise_todo(session, payment.tenant_id, "payment.refund_mismatch",
                   f"Payment {payment.number}: gateway reports a refund loket cannot match",
                   detail=exc.detail, entity_type="payment", entity_id=payment.number,
                   dedupe_key=f"refund-mismatch:{payment.id}:{event.refund_reference}")
        return False


Handler = Callable[["Loket", Session, GatewayConfiguration, Payment, GatewayEvent], bool | str]
"""Adds one event's fact to its locked payment; returns whether anything changed (or
``MISMATCH``)."""


def _on_succeeded(ctx: Loket, session: Session, row: GatewayConfiguration, payment: Payment,
                  event: GatewayEvent) -> bool | str:
    return _money_taken(ctx, session, payment, event, check_amount=True)


def _on_settled(ctx: Loket, session: Session, row: GatewayConfiguration, payment: Payment,
                event: GatewayEvent) -> bool | str:
    if _settlement_mismatch(session, row, payment, event):
        return MISMATCH
    changed = _money_taken(ctx, session, payment, event, check_amount=False)
    return _settled(ctx, session, row, payment, event) or changed


def _on_failed(ctx: Loket, session: Session, row: GatewayConfiguration, payment: Payment,
               event: GatewayEvent) -> bool | str:
    return _failed(payment, event)


def _on_pending(ctx: Loket, session: Session, row: GatewayConfiguration, payment: Payment,
                event: GatewayEvent) -> bool | str:
    return _attempt_declined(payment, event)


def _on_refunded(ctx: Loket, session: Session, row: GatewayConfiguration, payment: Payment,
                 event: GatewayEvent) -> bool | str:
    # A refund implies the money was taken, even if that event is still on its way.
    changed = _money_taken(ctx, session, payment, event, check_amount=False)
    return _refunded(session, payment, event, ctx.now()) or changed


def _on_refund_failed(ctx: Loket, session: Session, row: GatewayConfiguration,
                      payment: Payment, event: GatewayEvent) -> bool | str:
    return _refund_failed(session, payment, event)


def _on_settlement_failed(ctx: Loket, session: Session, row: GatewayConfiguration,
                          payment: Payment, event: GatewayEvent) -> bool | str:
    return _settlement_failed(session, payment, event)


APPLY: dict[str, Handler] = {
    EventType.SUCCEEDED: _on_succeeded,
    EventType.SETTLED: _on_settled,
    EventType.FAILED: _on_failed,
    EventType.EXPIRED: _on_failed,
    EventType.PENDING: _on_pending,
    EventType.REFUNDED: _on_refunded,
    EventType.REFUND_FAILED: _on_refund_failed,
    EventType.SETTLEMENT_FAILED: _on_settlement_failed,
}
"""What each event type does to its payment (``ignored`` is absent: it does nothing)."""
