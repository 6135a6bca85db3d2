"""Counter (walk-in) payments recorded by staff: cash with change, cards, transfers.

The money received, less change, goes to the chosen items oldest first; what is left becomes
a credit note (reason Overpayment); an excess above the overpayment threshold is refused.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import attrs
from sqlalchemy.orm import Session

from loket.core import audit, idempotency
from loket.core.host.obligations import Ledger
from loket.core.models import Consumer, Payment, Receivable
from loket.core.payments import agreements, allocation, payers
from loket.core.payments.checkout import open_items
from loket.core.payments.invariants import check_invariants
from loket.core.payments.payers import Payer
from loket.core.payments.posting import (
    create_credit_note,
    lock_receivables,
    post_allocations,
    refresh_state,
    resolve_item,
    take_number,
)
from loket.core.settings import Settings, load_settings
from loket.core.states import ITEM_KINDS, ApplicationState, ReceivableStatus
from loket.core.tenants import consumer_by_account, require_payable
from loket.errors import NotFound, ValidationFailed
from loket.money import Money
from loket.types import Obligation, PaymentStatus

LUMP_TYPES = ("mixed", "account")


@attrs.frozen
class CounterPayment:
    """What a cashier enters. Amounts are decimal strings in the tenant currency.

    ``references`` are the chosen items; empty means every open item of ``payment_type``,
    oldest first. ``paid_on`` (the payment date, ``YYYY-MM-DD``, not in the future) is
    required.
    """

    account_number: str
    payment_type: str
    method: str
    amount_received: str
    paid_on: str | None = None
    channel: str | None = None
    references: tuple[str, ...] = ()
    change_given: str = "0"
    notes: str | None = None
    # ``(kind, reference)`` pairs of any kinds (payment type ``mixed``): a bill and a service
    # in one payment. Payment type ``account`` with no items pays every open item (lump sum).
    items: tuple[tuple[str, str], ...] = ()
    payer: Payer | None = None  # who hands the money over, when not the account holder


def _validate(entry: CounterPayment, settings) -> None:
    errors = []
    if not entry.account_number:
        errors.append({"field": "consumer", "message": "consumer is required"})
    if entry.payment_type not in ITEM_KINDS and entry.payment_type not in LUMP_TYPES:
        errors.append({"field": "payment_type", "message": "payment type is required: bill, "
                       "service, installment, mixed or account"})
    if entry.payment_type == "mixed" and not (entry.items or entry.references):
        errors.append({"field": "items", "message": "choose the items a mixed payment pays"})
    if entry.items and entry.payment_type not in LUMP_TYPES:
        errors.append({"field": "items", "message": "items of several kinds need payment type "
                       "mixed or account"})
    if len(set(entry.items)) != len(entry.items):
        errors.append({"field": "items", "message": "an item is chosen twice"})
    if entry.method not in settings["payment_methods"]:
        errors.append({"field": "method", "message": "payment method is required, one of "
                       + ", ".join(settings["payment_methods"])})
    if entry.channel and entry.channel not in settings["channels"]:
        errors.append({"field": "channel",
                       "message": "channel must be one of " + ", ".join(settings["channels"])})
    if not entry.amount_received:
        errors.append({"field": "amount_received", "message": "amount received is required"})
    if not entry.paid_on:
        errors.append({"field": "paid_on", "message": "payment date is required"})
    else:
        try:
            dt.date.fromisoformat(entry.paid_on)
        except ValueError:
            errors.append({"field": "paid_on",
                           "message": "payment date must be a date like 2025-03-31"})
    if entry.notes and len(entry.notes) > settings["notes_max_length"]:
        errors.append({"field": "notes", "message": f"notes are limited to "
                       f"{settings['notes_max_length']} characters"})
    if len(set(entry.references)) != len(entry.references):
        errors.append({"field": "references", "message": "an item is chosen twice"})
    change = (entry.change_given or "0").strip()
    if entry.method != "cash" and change.strip("0.") != "":
        errors.append({"field": "change_given", "message": "change is given only for cash"})
    if errors:
        raise ValidationFailed("the counter payment is incomplete", errors=errors)


def _refuse_late(entry: CounterPayment, name: str, applied: int, due: int, threshold: int,
                 currency: str) -> None:
    """The serial rules, applied once the items are locked.

    :raises ValidationFailed: nothing is left to pay ("already paid"), or the excess is now
        above the overpayment threshold.
    """
    if due <= 0:
        what = ", ".join(entry.references) or f"{name}'s {entry.payment_type}"
        raise ValidationFailed(f"{what} is already paid (another payment was recorded for "
                               f"it a moment ago)", field="references")
    if applied > due + threshold:
        raise ValidationFailed(
            f"{Money(applied, currency).format()} is more than the outstanding "
            f"{Money(due, currency).format()} plus the overpayment threshold "
            f"{Money(threshold, currency).format()} (another payment was recorded a moment "
            f"ago)", field="amount_received")


def record_counter_payment(ctx, session: Session, actor: audit.Actor, tenant_id: int,
                           entry: CounterPayment, idempotency_key: str | None = None) -> Payment:
    """Record a counter payment: posted, verified, processed immediately.

    :returns: the payment (with payment, transaction and receipt numbers).
    :raises ValidationFailed: missing/invalid fields (each named), unknown items, change
        above the amount, or an excess above the overpayment threshold.
    """
    settings = load_settings(session, tenant_id)
    row, prior = idempotency.claim(session, tenant_id, "counter-payment", idempotency_key,
                                   attrs.asdict(entry))
    if prior is not None:
        return session.get_one(Payment, prior["payment_id"])
    _validate(entry, settings)
    received, change = _amounts(ctx, entry, settings)
    try:
        consumer = consumer_by_account(session, tenant_id, entry.account_number)
    except NotFound:
        raise ValidationFailed(f"unknown consumer {entry.account_number!r}",
                               field="consumer") from None
    require_payable(consumer, entry.payment_type == "account" and not entry.items
                    and not entry.references)
    destination, chosen = _chosen(ctx, session, settings, tenant_id, consumer, entry)
    if not chosen:
        raise ValidationFailed(f"{consumer.name} has no open {entry.payment_type} to pay",
                               field="references")
    chosen.sort(key=lambda c: (c[1].due_date is None, c[1].due_date or 0, c[1].receivable_id))
    currency = settings.currency
    due = sum(o.outstanding.amount for _, o in chosen)
    applied = received.amount - change.amount
    threshold = settings.money("overpayment_threshold") or 0
    if applied > due + threshold:
        raise ValidationFailed(
            f"{Money(applied, currency).format()} is more than the outstanding "
            f"{Money(due, currency).format()} plus the overpayment threshold "
            f"{Money(threshold, currency).format()}", field="amount_received")

    payment = _new_payment(ctx, session, settings, actor, consumer, entry, destination,
                           received, change, min(applied, due))
    leftover = _allocate(ctx, session, settings, payment, chosen, applied)
    if leftover > max(applied - due, 0):
        # Another payment filled these items between reading and locking them: judge this
        # one as if it had come after, as a serial one would have been.
        due = applied - leftover
        _refuse_late(entry, consumer.name, applied, due, threshold, currency)
        payment.amount = min(applied, due)
    if leftover:
        create_credit_note(session, settings, actor, payment, leftover, "Overpayment",
                           "Automatic: amount received above the items' total", True,
                           payment.created_at)
    refresh_state(ctx, session, actor, payment, "payment.posted", None)
    check_invariants(session, payment)
    if row is not None:
        idempotency.remember(session, row, {"payment_id": payment.id})
    return payment


def _amounts(ctx: Any, entry: CounterPayment, settings: Settings) -> tuple[Money, Money]:
    """The amount received and the change given, checked against each other and the date.

    :raises ValidationFailed: a payment date in the tenant's future, a non-positive amount,
        or change above the amount received.
    """
    today = ctx.now().astimezone(ZoneInfo(settings["timezone"])).date()
    if dt.date.fromisoformat(entry.paid_on or "") > today:
        raise ValidationFailed("the payment date cannot be in the future", field="paid_on")
    received = Money.parse(entry.amount_received, settings.currency, field="amount_received")
    change = Money.parse(entry.change_given or "0", settings.currency, field="change_given")
    if received.amount <= 0:
        raise ValidationFailed("amount received must be more than zero", field="amount_received")
    if change.amount > received.amount:
        raise ValidationFailed("change given cannot exceed the amount received",
                               field="change_given")
    return received, change


def _chosen(ctx: Any, session: Session, settings: Settings, tenant_id: int, consumer: Consumer,
            entry: CounterPayment) -> tuple[str, list[tuple[str, Obligation]]]:
    """The payment's destination and the ``(destination, obligation)`` pairs it pays: the
    chosen references, or every open item of the payment type."""
    if entry.payment_type in LUMP_TYPES:
        return "mixed", _lump_obligations(ctx, session, settings, tenant_id,
                                          consumer.account_number, entry)
    destination = settings.destination_for_processor(entry.payment_type)
    processor = settings.route(destination)["processor"]
    if not entry.references:
        return destination, [(destination, o) for o in ctx.plugins.retrieve_due(
            processor, Ledger(session, tenant_id), consumer.account_number)]
    chosen: list[tuple[str, Obligation]] = []
    for reference in entry.references:
        _, resolved = resolve_item(ctx, session, settings, tenant_id, consumer.account_number,
                                   processor, reference)
        chosen.extend((destination, o) for o in resolved.obligations)
    return destination, chosen


def _new_payment(ctx: Any, session: Session, settings: Settings, actor: audit.Actor,
                 consumer: Consumer, entry: CounterPayment, destination: str, received: Money,
                 change: Money, amount: int) -> Payment:
    """The posted, verified payment row with its three numbers (flushed, not yet allocated)."""
    now = ctx.now()
    tenant_id = consumer.tenant_id
    payment = Payment(
        tenant_id=tenant_id, consumer_id=consumer.id,
        number=take_number(session, settings, tenant_id, "payment", now),
        transaction_number=take_number(session, settings, tenant_id, "transaction", now),
        receipt_number=take_number(session, settings, tenant_id, "receipt", now),
        channel=entry.channel or settings["default_channel"], method=entry.method,
        payment_type="mixed" if entry.payment_type in LUMP_TYPES else entry.payment_type,
        destination=destination, status=PaymentStatus.POSTED,
        verification="verified", settlement_status="N/A", currency=settings.currency,
        amount=amount, amount_received=received.amount,
        change_given=change.amount, notes=entry.notes, created_by=actor.name,
        created_at=now, paid_at=now, succeeded_at=now, completed_at=now,
        application_state=ApplicationState.APPLIED,
        gateway_details={"processing_time": "Immediate", "paid_on": entry.paid_on},
    )
    agreement = agreements.require_agreement(session, consumer, entry.method)
    payment.agreement_reference = agreement.reference if agreement else None
    payers.record(payment, entry.payer or Payer.holder(consumer))
    session.add(payment)
    session.flush()
    return payment


def _allocate(ctx: Any, session: Session, settings: Settings, payment: Payment,
              chosen: list[tuple[str, Obligation]], applied: int) -> int:
    """Split ``applied`` over the chosen obligations, oldest first, as they stand once their
    receivables are locked, and post it per destination; returns what is left over (minor
    units)."""
    destination_of = {o.receivable_id: d for d, o in chosen}
    locked = lock_receivables(session, list(destination_of))
    parts = allocation.split([_as_locked(o, locked.get(o.receivable_id)) for _, o in chosen],
                             applied)
    groups: dict[str, tuple[list[int], int]] = {}
    for obligation, part in parts:
        ids, value = groups.get(destination_of[obligation.receivable_id], ([], 0))
        ids.append(obligation.receivable_id)
        groups[destination_of[obligation.receivable_id]] = (ids, value + part)
    leftover = applied - sum(part for _, part in parts)
    return leftover + post_allocations(ctx, session, payment, settings,
                                       [(d, ids, value) for d, (ids, value) in groups.items()])


def _as_locked(obligation: Obligation, row: Receivable | None) -> Obligation:
    """The obligation with what its locked receivable still owes (nothing once it is no
    longer open): another payment may have paid it since it was read."""
    owed = row.amount - row.paid if row is not None and row.status == ReceivableStatus.OPEN \
        else 0
    return attrs.evolve(obligation, outstanding=Money(owed, obligation.outstanding.currency))


def _lump_obligations(ctx: Any, session: Session, settings: Settings, tenant_id: int,
                      account_number: str,
                      entry: CounterPayment) -> list[tuple[str, Obligation]]:
    """The ``(destination, obligation)`` pairs a mixed or account payment pays: the chosen
    items of any kinds (a reference alone is looked up in every kind), or every open item."""
    wanted = list(entry.items)
    for reference in entry.references:
        wanted.append(("", reference))
    if not wanted:
        wanted = [(i["kind"], i["reference"]) for i in open_items(ctx, session, tenant_id,
                                                                  account_number)]
    out: list[tuple[str, Obligation]] = []
    chosen: set[int] = set()
    for position, (kind, reference) in enumerate(wanted):
        kinds = (kind,) if kind else ITEM_KINDS
        if kind and kind not in ITEM_KINDS:
            raise ValidationFailed(f"item kind must be one of {', '.join(ITEM_KINDS)}",
                                   field=f"items[{position}].kind")
        found = None
        error = ValidationFailed(f"unknown item {reference!r}")
        for candidate in kinds:
            try:
                found = resolve_item(ctx, session, settings, tenant_id, account_number,
                                     candidate, reference)
                break
            except ValidationFailed as exc:
                error = exc
        field = (f"items[{position}].reference" if position < len(entry.items)
                 else f"references[{position - len(entry.items)}]")
        if found is None:
            raise ValidationFailed(error.detail, field=field)
        destination, resolved = found
        for obligation in resolved.obligations:
            if obligation.receivable_id in chosen:  # an item and a reference naming it
                raise ValidationFailed(f"{reference!r} is chosen twice", field=field)
            chosen.add(obligation.receivable_id)
            out.append((destination, obligation))
    return out
