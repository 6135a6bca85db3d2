"""Credit notes: issued automatically on overpayment or by staff from a payment; applied to
a receivable; expire after the configured number of days."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core import audit, idempotency
from loket.core.db import money_sum
from loket.core.host.obligations import pay
from loket.core.models import CreditNote, CreditNoteApplication, Payment, Receivable
from loket.core.outbox import events as outbox_events
from loket.core.payments.invariants import check_invariants, give_back_capacity
from loket.core.payments.posting import (
    create_credit_note,
    lock_payment,
)
from loket.core.settings import load_settings
from loket.core.states import CreditNoteStatus, ReceivableStatus
from loket.errors import NotFound, ValidationFailed
from loket.money import Money
from loket.types import PaymentStatus

REASONS = ("Overpayment", "Duplicate Payment", "Billing Error", "Billing Adjustment",
           "Refund Request", "Customer Request", "Other")
REMARKS_MAX = 500


def issue_credit_note(ctx, session: Session, actor: audit.Actor, payment: Payment, amount: str,
                      reason: str, remarks: str = "",
                      idempotency_key: str | None = None) -> CreditNote:
    """Issue a credit note from a payment by hand.

    :raises ValidationFailed: as :func:`check_credit_note`.
    """
    row, prior = idempotency.claim(session, payment.tenant_id, f"credit-note:{payment.id}",
                                   idempotency_key, {"amount": amount, "reason": reason,
                                                     "remarks": remarks})
    if prior is not None:
        return session.get_one(CreditNote, prior["credit_note_id"])
    payment = lock_payment(session, payment.id)
    value = check_credit_note(session, payment, amount, reason, remarks)
    settings = load_settings(session, payment.tenant_id)
    note = create_credit_note(session, settings, actor, payment, value.amount, reason,
                              remarks or "", False, ctx.now())
    check_invariants(session, payment)
    if row is not None:
        idempotency.remember(session, row, {"credit_note_id": note.id})
    return note


def check_credit_note(session: Session, payment: Payment, amount: str, reason: str,
                      remarks: str = "") -> Money:
    """Check a credit note of ``amount`` (decimal string) from ``payment`` without issuing
    it: by :func:`issue_credit_note`, and before one above the approval threshold is kept
    for a second person (:func:`loket.core.payments.approvals.request_approval`), so that
    nothing waits that could never be issued.

    :returns: the amount.
    :raises ValidationFailed: an unknown reason or remarks longer than
        :data:`REMARKS_MAX` (both named at once); a payment no note can come from; an amount
        not above zero, or above what the payment's credit notes and refunds leave.
    """
    errors = []
    if reason not in REASONS:
        errors.append({"field": "reason", "message": "reason must be one of " + ", ".join(REASONS)})
    if remarks and len(remarks) > REMARKS_MAX:
        errors.append({"field": "remarks", "message": f"remarks are limited to {REMARKS_MAX} "
                                                       "characters"})
    if errors:
        raise ValidationFailed("the credit note is invalid", errors=errors)
    if payment.consumer_id is None or payment.status not in (
            PaymentStatus.POSTED, PaymentStatus.SUCCEEDED, PaymentStatus.COMPLETED,
            PaymentStatus.PARTIALLY_REFUNDED):
        raise ValidationFailed(f"payment {payment.number} is {payment.status}: no credit note "
                               "can be issued from it", field="payment")
    value = Money.parse(amount, payment.currency, field="amount")
    issued = session.scalar(select(money_sum(CreditNote.amount)).where(
        CreditNote.payment_id == payment.id))
    if value.amount <= 0:
        raise ValidationFailed("amount must be more than zero", field="amount")
    left = min(payment.amount_received - (issued or 0), give_back_capacity(session, payment))
    if value.amount > left:
        raise ValidationFailed(
            f"credit notes and refunds of payment {payment.number} cannot give back more "
            f"than it brought in; at most {Money(left, payment.currency).format()} is left",
            field="amount")
    return value


def remaining(note: CreditNote) -> int:
    """What is left to apply on a credit note (minor units)."""
    return note.amount - note.applied - note.reversed


def usage_percent(note: CreditNote) -> str:
    """How much of the note has been used, with one decimal (``"37.5"``)."""
    if note.amount == 0:
        return "0.0"
    tenths = (note.applied * 1000 + note.amount // 2) // note.amount
    return f"{tenths // 10}.{tenths % 10}"


def apply_credit_note(ctx, session: Session, actor: audit.Actor, note: CreditNote,
                      receivable_kind: str, reference: str, amount: str | None = None,
                      idempotency_key: str | None = None) -> CreditNoteApplication:
    """Apply (part of) a credit note to one of the same consumer's open receivables.

    :param amount: decimal string; default the lesser of what remains and what is owed.
    """
    row, prior = idempotency.claim(session, note.tenant_id, f"credit-apply:{note.id}",
                                   idempotency_key, {"kind": receivable_kind,
                                                     "reference": reference, "amount": amount})
    if prior is not None:
        return session.get_one(CreditNoteApplication, prior["application_id"])
    # The payment first, as a refund locks it before working out what it may give back
    # (the payment's credit notes count): the two never run at once on one payment.
    lock_payment(session, note.payment_id)
    note = session.scalars(select(CreditNote).where(CreditNote.id == note.id).with_for_update()
                           .execution_options(populate_existing=True)).one()
    now = ctx.now()
    if note.status != CreditNoteStatus.ACTIVE or note.expires_at <= now:
        raise ValidationFailed(f"credit note {note.number} is {note_status(note, now)}",
                               field="credit_note")
    receivable = session.scalars(select(Receivable).where(
        Receivable.tenant_id == note.tenant_id, Receivable.kind == receivable_kind,
        Receivable.reference == reference).with_for_update()
        .execution_options(populate_existing=True)).first()
    if receivable is None or receivable.consumer_id != note.consumer_id:
        raise NotFound(f"unknown {receivable_kind} {reference!r} for this consumer")
    owed = receivable.amount - receivable.paid
    if receivable.status != ReceivableStatus.OPEN or owed <= 0:
        raise ValidationFailed(f"{receivable_kind} {reference!r} is not open", field="reference")
    value = (Money.parse(amount, note.currency, field="amount").amount if amount
             else min(remaining(note), owed))
    if value <= 0 or value > remaining(note) or value > owed:
        raise ValidationFailed(
            f"amount must be more than zero and at most "
            f"{Money(min(remaining(note), owed), note.currency).format()}", field="amount")
    before = {"applied": note.applied, "status": note.status}
    note.applied += value
    if remaining(note) == 0:
        note.status = CreditNoteStatus.APPLIED
    pay(receivable, value)
    application = CreditNoteApplication(credit_note_id=note.id, receivable_id=receivable.id,
                                        amount=value, created_by=actor.name, created_at=now)
    session.add(application)
    session.flush()
    audit.record(session, actor, "credit_note.applied", "credit_note", note.number,
                 before=before, after={"applied": note.applied, "status": note.status,
                                       "receivable": reference, "amount": value},
                 tenant_id=note.tenant_id)
    payment = session.get_one(Payment, note.payment_id)
    outbox_events.emit(session, note.tenant_id, "credit_note.applied",
                       {"credit_note": {"number": note.number, "payment": payment.number,
                                        "amount": Money(value, note.currency),
                                        "receivable": {"kind": receivable_kind,
                                                       "reference": reference}}},
                       f"payment:{payment.number}", now=now)
    check_invariants(session, payment)
    if row is not None:
        idempotency.remember(session, row, {"application_id": application.id})
    return application


def note_status(note: CreditNote, now: dt.datetime) -> str:
    """The status people see: an active note past its expiry shows as expired."""
    if note.status == CreditNoteStatus.ACTIVE and note.expires_at <= now:
        return CreditNoteStatus.EXPIRED
    return note.status


def expire_credit_notes(ctx, session: Session, tenant_id: int | None = None) -> int:
    """Mark active notes past their expiry as expired (idempotent), audited and told to the
    host as a ``credit_note.expired`` event (the note, its payment, its amount and what
    was left unused); returns how many."""
    now = ctx.now()
    query = select(CreditNote).where(CreditNote.status == CreditNoteStatus.ACTIVE,
                                     CreditNote.expires_at <= now)
    if tenant_id is not None:
        query = query.where(CreditNote.tenant_id == tenant_id)
    count = 0
    for note in session.scalars(query.with_for_update()):
        note.status = CreditNoteStatus.EXPIRED
        audit.record(session, audit.SYSTEM, "credit_note.expired", "credit_note", note.number,
                     before={"status": "active"}, after={"status": "expired"},
                     tenant_id=note.tenant_id)
        announce_void(session, note, session.get_one(Payment, note.payment_id),
                      "credit_note.expired", now)
        count += 1
    return count


def expire_due(ctx) -> int:
    """Expire every tenant's active notes past their date, in a transaction of its own.

    Called by the daily job; idempotent. :returns: how many notes expired.
    """
    with ctx.transaction() as session:
        return expire_credit_notes(ctx, session)


def announce_void(session: Session, note: CreditNote, payment: Payment, event_type: str,
                  now: dt.datetime, **extra: str) -> None:
    """Tell the host a credit note can no longer be used (``credit_note.expired`` by the
    expiry job, ``credit_note.cancelled`` with its payment), in the caller's transaction:
    the note, its payment, its amount, what was left unused and its expiry, and ``extra``
    (a ``reason``)."""
    outbox_events.emit(session, note.tenant_id, event_type,
                       {"credit_note": {"number": note.number, "payment": payment.number,
                                        "amount": Money(note.amount, note.currency),
                                        "remaining": Money(remaining(note), note.currency),
                                        "expires_at": note.expires_at, **extra}},
                       f"payment:{payment.number}", now=now)
