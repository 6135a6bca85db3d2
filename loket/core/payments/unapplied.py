"""Money taken and applied later (a deferred destination's service task, a held payment's
release) may be refunded in the meantime: what is applied then is what was received less
what was refunded, so the money invariant holds. Only refunds the gateway confirmed count;
one it has not confirmed yet is taken back from the posted allocations when it confirms."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.models import Allocation, Payment
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
    left = payment.refunded
    kept = []
    for amount in amounts:
        part = min(left, amount)
        kept.append(amount - part)
        left -= part
    return kept


def deduct_refunds(session: Session, actor: audit.Actor, payment: Payment,
                   action: str = "service_task.refund_deducted") -> None:
    """Take what was refunded before the money was applied off the payment's intended
    allocations, newest first (one brought to nothing is void), so only the money kept is
    applied; audited as ``action`` by ``actor``. Called before applying money taken earlier
    (a service task, staff retrying a failed application) unless :func:`refunded_in_full`.
    """
    if not payment.refunded:
        return
    intended = session.scalars(_INTENDED, {"payment_id": payment.id}).all()
    before = sum(a.amount for a in intended)
    for allocation, kept in zip(intended, after_refunds(payment, [a.amount for a in intended]),
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
