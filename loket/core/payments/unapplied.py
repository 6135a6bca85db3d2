"""Money taken and applied later (a deferred destination's service task, a held payment's
release) may be refunded in the meantime: what is applied then is what was received less
what was refunded, so the money invariant holds. Only refunds the gateway confirmed count;
one it has not confirmed yet is taken back from the posted allocations when it confirms."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.models import Allocation, CreditNote, Payment
from loket.core.payments import lifecycle
from loket.core.payments.invariants import check_invariants
from loket.core.states import AllocationState, ApplicationState

_INTENDED = select(Allocation).where(Allocation.payment_id == bindparam("payment_id"),
                                     Allocation.state == AllocationState.INTENDED
                                     ).order_by(Allocation.id.desc())


def refunded_in_full(payment: Payment) -> bool:
    """Whether confirmed refunds gave back all the money a payment can give back, leaving
    nothing to apply. Called before applying money taken earlier."""
    return bool(payment.refunded) and payment.refunded >= lifecycle.refundable(payment)


def after_refunds(payment: Payment, amounts: Sequence[int]) -> list[int]:
    """What is left of each of ``amounts`` (minor units a payment was to apply, in the order
    a refund takes them back: newest first) once what was refunded before they were applied
    is taken off them, the first first; an amount refunded in full is 0.

    :returns: one amount per given amount, in the same order.
    """
    return _taken_off(amounts, payment.refunded)


def _taken_off(amounts: Sequence[int], total: int) -> list[int]:
    """``amounts`` with ``total`` taken off them, the first first (none below 0)."""
    left = total
    kept = []
    for amount in amounts:
        part = min(left, amount)
        kept.append(amount - part)
        left -= part
    return kept


def _kept_to_apply(session: Session, payment: Payment) -> int:
    """What the payment may still apply through its intended allocations: what it can give
    back less what was refunded, posted or turned into an automatic credit note."""
    posted = session.scalar(select(func.coalesce(func.sum(
        Allocation.amount - Allocation.reversed), 0)).where(
        Allocation.payment_id == payment.id, Allocation.state == AllocationState.POSTED))
    noted = session.scalar(select(func.coalesce(func.sum(
        CreditNote.amount - CreditNote.reversed), 0)).where(
        CreditNote.payment_id == payment.id, CreditNote.automatic.is_(True)))
    return lifecycle.refundable(payment) - payment.refunded - int(posted or 0) - int(noted or 0)


def deduct_refunds(session: Session, actor: audit.Actor, payment: Payment,
                   action: str = "service_task.refund_deducted") -> None:
    """Take what was refunded before the money was applied off the payment's intended
    allocations, newest first (one brought to nothing is void), so only the money kept is
    applied; audited as ``action`` by ``actor``. Called before applying money taken earlier
    (a service task, staff retrying a failed application) unless :func:`refunded_in_full`.
    Idempotent: the intended allocations are brought down to what the payment kept, so a
    second attempt after a failed one takes nothing more off.
    """
    if not payment.refunded:
        return
    intended = session.scalars(_INTENDED, {"payment_id": payment.id}).all()
    before = sum(a.amount for a in intended)
    # Down to what the payment kept, never by the refunds again: an earlier attempt whose
    # application then failed may already have taken them off.
    excess = before - max(_kept_to_apply(session, payment), 0)
    if excess <= 0:
        return
    for allocation, kept in zip(intended, _taken_off([a.amount for a in intended], excess),
                                strict=True):
        allocation.amount = kept
        if kept == 0:
            allocation.state = AllocationState.VOID
    audit.record(session, actor, action, "payment", payment.number,
                 before={"to_apply": before},
                 after={"to_apply": sum(a.amount for a in intended)},
                 tenant_id=payment.tenant_id)


def nothing_to_apply(session: Session, payment: Payment) -> None:
    """End the application of a payment refunded in full before its money was applied: its
    intended allocations are void and its application is done, with nothing posted."""
    for allocation in session.scalars(_INTENDED, {"payment_id": payment.id}):
        allocation.state = AllocationState.VOID
    payment.application_state = ApplicationState.APPLIED
    check_invariants(session, payment)
