"""Held payments: money taken for a target that does not exist yet (a tax form whose DLN
the host has not sent). The payment is held Pending; when the host upserts the receivable
that completes it, the money is applied in that same transaction; past the tenant's
``held_payment_timeout_days`` staff get a to-do.

A held payment may be refunded while it waits: its release applies what was received less
what was refunded (:mod:`loket.core.payments.unapplied`), and the hold of a payment refunded
in full ends with nothing posted, its target or not, so no to-do is raised for it.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.host.obligations import Ledger
from loket.core.models import Consumer, Payment, PaymentHold, Receivable, ReceivableAttribute
from loket.core.payments import batch_reads
from loket.core.payments.invariants import check_invariants
from loket.core.payments.posting import (
    create_credit_note,
    lock_payment,
    post_allocations,
)
from loket.core.payments.unapplied import after_refunds, refunded_in_full
from loket.core.settings import load_settings
from loket.core.states import ApplicationState, HoldState
from loket.core.todos import raise_todo
from loket.errors import PluginError, ValidationFailed
from loket.types import DestinationTarget, ResolvedTarget

log = logging.getLogger(__name__)
HOLDER = audit.Actor("holds", "system")
WAITING, APPLIED = HoldState.WAITING, HoldState.APPLIED


def hold(session: Session, payment: Payment, destination: str, resolved: ResolvedTarget) -> None:
    """Record that ``payment`` waits for ``resolved.hold_key`` (called by checkout)."""
    session.add(PaymentHold(tenant_id=payment.tenant_id, payment_id=payment.id,
                            destination=destination, hold_key=resolved.hold_key,
                            params=dict(resolved.target.params), amount=resolved.total.amount))


def waiting_hold(session: Session, payment: Payment) -> PaymentHold | None:
    """The payment's hold while it still waits, else ``None``."""
    reads = batch_reads.of(session)
    if reads is not None and payment.id in reads.holds:
        return reads.holds.pop(payment.id)
    return session.scalar(_WAITING, {"payment_id": payment.id})


_WAITING = select(PaymentHold).where(PaymentHold.payment_id == bindparam("payment_id"),
                                     PaymentHold.state == WAITING)


def keys_of(session: Session, receivable: Receivable) -> list[str]:
    """The hold keys a receivable completes: ``kind:name=value`` per attribute, and
    ``kind:reference=…``."""
    rows = session.execute(select(ReceivableAttribute.name, ReceivableAttribute.value).where(
        ReceivableAttribute.receivable_id == receivable.id)).all()
    return [f"{receivable.kind}:reference={receivable.reference}"] + [
        f"{receivable.kind}:{name}={value}" for name, value in rows]


def try_release(ctx, session: Session, payment: Payment, row: PaymentHold) -> bool:
    """Apply a held payment if its target now exists; otherwise mark it ``held``. What is
    applied is the held amount less what was refunded meanwhile; a payment refunded in full
    has its hold ended with nothing posted (:func:`_end_refunded`).

    Called when the money is taken, when the host upserts a matching receivable, and when a
    deferred payment's service task or a retry applies it. A processor failure, or a
    destination no longer configured, leaves the money taken, the payment in ``error`` and a
    to-do; it never fails the caller.

    :returns: whether money was applied.
    """
    if refunded_in_full(payment):
        _end_refunded(ctx, session, payment, row)
        return False
    (amount,) = after_refunds(payment, [row.amount])
    settings = load_settings(session, payment.tenant_id)
    consumer = session.get(Consumer, payment.consumer_id)
    if consumer is None:  # a held payment is always an account's
        return False
    try:
        processor = settings.route(row.destination)["processor"]
    except ValidationFailed as exc:  # renamed or removed since the payment was taken
        _not_applied(session, payment, exc)
        return False
    target = DestinationTarget(row.destination, processor, consumer.account_number, row.params)
    try:
        resolved = ctx.plugins.validate_target(processor, Ledger(session, payment.tenant_id),
                                               target)
    except (ValidationFailed, PluginError):  # not there yet, or a processor at fault: held
        resolved = None
    if resolved is None or not resolved.obligations:
        payment.application_state = "held"
        return False
    try:
        with session.begin_nested():
            ids = [o.receivable_id for o in resolved.obligations]
            leftover = post_allocations(ctx, session, payment, settings,
                                        [(row.destination, ids, amount)])
            if leftover:
                create_credit_note(session, settings, HOLDER, payment, leftover, "Overpayment",
                                   "Automatic: the held payment exceeded what the form owes",
                                   True, ctx.now())
            row.state = HoldState.APPLIED
            row.applied_at = ctx.now()
            payment.application_state = ApplicationState.APPLIED
            check_invariants(session, payment)
    except Exception as exc:  # noqa: BLE001 - any processor failure becomes a to-do
        _not_applied(session, payment, exc)
        return False
    audit.record(session, HOLDER, "payment.hold_released", "payment", payment.number,
                 after={"hold_key": row.hold_key, "amount": amount,
                        "refunded": payment.refunded}, tenant_id=payment.tenant_id)
    return True


def _end_refunded(ctx, session: Session, payment: Payment, row: PaymentHold) -> None:
    """End the hold of a payment whose money was all refunded while it waited: nothing is
    left to apply, so its application is done with nothing posted (as a deferred payment's
    task refunded in full is) and it is no longer held."""
    row.state = HoldState.APPLIED
    row.applied_at = ctx.now()
    payment.application_state = ApplicationState.APPLIED
    check_invariants(session, payment)
    audit.record(session, HOLDER, "payment.hold_released", "payment", payment.number,
                 after={"hold_key": row.hold_key, "amount": 0, "refunded": payment.refunded},
                 tenant_id=payment.tenant_id)


def _not_applied(session: Session, payment: Payment, exc: Exception) -> None:
    """Called when a held payment cannot be applied: its application is in ``error`` and
    staff get a ``payment.apply_failed`` to-do saying why."""
    payment.application_state = "error"
    raise_todo(session, payment.tenant_id, "payment.apply_failed",
               f"Held payment {payment.number} could not be applied",
               detail=f"{type(exc).__name__}: {exc}", entity_type="payment",
               entity_id=payment.number)


def release_matching(ctx, session: Session, receivable: Receivable,
                     skip_locked: bool = False) -> list[str]:
    """Apply every held payment the upserted ``receivable`` completes (same transaction).

    Called by the host's receivable upserts. Payments whose money is not taken yet keep
    waiting (they are applied when it is).

    :param skip_locked: pass over a payment another transaction holds (PostgreSQL) instead
        of waiting for it: a long import holding many receivables must not wait for a
        webhook that is applying that payment and waits for one of them (the webhook
        applies it once the import commits).
    :returns: the numbers of the payments applied.
    """
    keys = keys_of(session, receivable)
    rows = session.scalars(select(PaymentHold).where(
        PaymentHold.tenant_id == receivable.tenant_id, PaymentHold.state == WAITING,
        PaymentHold.hold_key.in_(keys)).order_by(PaymentHold.id)).all()
    applied = []
    for row in rows:
        payment = _lock(session, row.payment_id, skip_locked)
        if payment is None:
            continue
        # Read again under the payment's lock: another release may have applied it since.
        session.refresh(row)
        if row.state != WAITING or payment.succeeded_at is None or \
                payment.cancelled_at is not None:
            continue
        if try_release(ctx, session, payment, row):
            applied.append(payment.number)
    return applied


def _lock(session: Session, payment_id: int, skip_locked: bool) -> Payment | None:
    if not skip_locked:
        return lock_payment(session, payment_id)
    return session.scalars(select(Payment).where(Payment.id == payment_id).with_for_update(
        skip_locked=True).execution_options(populate_existing=True)).one_or_none()


def overdue_holds(ctx) -> int:
    """Raise a to-do for each payment held longer than the tenant's
    ``held_payment_timeout_days`` after its money was taken (once per payment). The hold of
    a payment refunded in full ends instead: nothing is held any more.

    Called by the worker's periodic job.

    :returns: how many to-dos were raised.
    """
    now = ctx.now()
    raised = 0
    with ctx.transaction() as session:
        rows = session.execute(select(PaymentHold, Payment).join(
            Payment, Payment.id == PaymentHold.payment_id).where(
            PaymentHold.state == WAITING, Payment.succeeded_at.is_not(None),
            Payment.cancelled_at.is_(None)).order_by(PaymentHold.id)).all()
        for row, payment in rows:
            if refunded_in_full(payment):
                _end_if_refunded(ctx, session, row)
                continue
            days = load_settings(session, payment.tenant_id)["held_payment_timeout_days"]
            taken = payment.succeeded_at
            if taken.tzinfo is None:
                taken = taken.replace(tzinfo=dt.UTC)
            if now - taken < dt.timedelta(days=days):
                continue
            todo = raise_todo(
                session, payment.tenant_id, "payment.hold_timeout",
                f"Payment {payment.number} is held: {row.hold_key} has not arrived "
                f"{days} day(s) after the money was taken",
                detail="Ask the host for the form, or refund the payment.",
                entity_type="payment", entity_id=payment.number,
                dedupe_key=f"hold-timeout:{payment.id}")
            raised += todo is not None
    return raised


def _end_if_refunded(ctx, session: Session, row: PaymentHold) -> None:
    """End the hold of a payment the overdue scan found refunded in full, read again under
    the payment's lock (a release may have ended it meanwhile)."""
    payment = lock_payment(session, row.payment_id)
    session.refresh(row)
    if row.state == WAITING and refunded_in_full(payment):
        _end_refunded(ctx, session, payment, row)
