"""loket's money invariants, checked for a payment before its transaction commits, and what a
payment can still give back (the limit refunds, credit notes and disputes share)."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import bindparam, false, literal, select, union_all
from sqlalchemy.orm import Session

from loket.core.db import money_sum
from loket.core.models import (
    Allocation,
    CreditNote,
    Payment,
    Refund,
)
from loket.core.payments import lifecycle
from loket.core.states import AllocationState, ApplicationState
from loket.errors import LoketError
from loket.types import (
    RefundStatus,
)


class InvariantBroken(LoketError):
    """A money invariant would break: the whole transaction is rolled back."""

    status = 500
    code = "invariant"
    title = "Money invariant violated"


def _reversible(session: Session, payment: Payment) -> int:
    """What a refund could still take back from this payment: its posted allocations and
    what sits unapplied in its automatic credit notes (the whole amount left when the
    money was never applied through loket)."""
    if payment.is_test or payment.application_state != ApplicationState.APPLIED:
        return lifecycle.refundable(payment) - payment.refunded
    allocated = session.scalar(select(money_sum(Allocation.amount - Allocation.reversed)).where(
        Allocation.payment_id == payment.id, Allocation.state == AllocationState.POSTED))
    unapplied = session.scalar(select(money_sum(
        CreditNote.amount - CreditNote.applied - CreditNote.reversed)).where(
        CreditNote.payment_id == payment.id, CreditNote.automatic.is_(True)))
    return (allocated or 0) + (unapplied or 0)


def _manual_credit(session: Session, payment: Payment) -> int:
    return session.scalar(select(money_sum(CreditNote.amount - CreditNote.reversed)).where(
        CreditNote.payment_id == payment.id, CreditNote.automatic.is_(False))) or 0


def give_back_capacity(session: Session, payment: Payment) -> int:
    """What can still go back to the payer from this payment, as a refund or as a manual
    credit note (one limit for both, so the same money never goes out twice)."""
    session.flush()
    return max(_reversible(session, payment) - _manual_credit(session, payment)
               - pending_refunds(session, payment), 0)


def pending_refunds(session: Session, payment: Payment) -> int:
    """What refunds the gateway accepted but has not confirmed hold of this payment (minor
    units): not yet given back, not available to another refund either."""
    return session.scalar(select(money_sum(Refund.amount)).where(
        Refund.payment_id == payment.id, Refund.status == RefundStatus.PENDING)) or 0


def check_invariants(session: Session, payment: Payment) -> None:
    """Check loket's money invariants for one payment before commit.

    allocations + automatic credit notes + change + passed-on fee + refunded = received
    (once money is taken); nothing negative; a payment's credit notes never exceed it; manual
    credit notes never exceed what a refund could still take back (no money out twice).
    """
    session.flush()
    allocations, notes = _money_rows(session, payment.id)
    values = [payment.amount, payment.amount_received, payment.change_given, payment.fee,
              payment.refunded] + [a.amount - a.reversed for a in allocations] + \
             [n.amount - n.applied - n.reversed for n in notes]
    if any(v < 0 for v in values):
        raise InvariantBroken(f"payment {payment.number}: a money amount would be negative")
    if (payment.status in lifecycle.MONEY_TAKEN
            and payment.application_state == ApplicationState.APPLIED
            and not payment.is_test):
        fee = payment.fee if payment.fee_passed_on else 0
        parts = (sum(a.amount - a.reversed for a in allocations)
                 + sum(n.amount - n.reversed for n in notes if n.automatic)
                 + payment.change_given + fee + payment.refunded)
        if parts != payment.amount_received:
            raise InvariantBroken(
                f"payment {payment.number}: allocations, credit notes, change, fee and refunds "
                f"({parts}) do not add up to the amount received ({payment.amount_received})")
    if sum(n.amount for n in notes) > payment.amount_received:
        raise InvariantBroken(f"payment {payment.number}: credit notes exceed the payment")
    # _manual_credit and _reversible, over the rows just read (no further statements).
    manual = sum(n.amount - n.reversed for n in notes if not n.automatic)
    if payment.is_test or payment.application_state != ApplicationState.APPLIED:
        reversible = lifecycle.refundable(payment) - payment.refunded
    else:
        reversible = (sum(a.amount - a.reversed for a in allocations)
                      + sum(n.amount - n.applied - n.reversed for n in notes if n.automatic))
    if manual > reversible:
        raise InvariantBroken(f"payment {payment.number}: credit notes and refunds give back "
                              f"more than the payment brought in")


class _Money(NamedTuple):
    """The money columns of a posted allocation (``applied`` 0, not ``automatic``) or of a
    credit note, as :func:`check_invariants` reads them."""

    is_note: bool
    amount: int
    applied: int
    reversed: int
    automatic: bool


_MONEY_ROWS = union_all(
    select(literal(False).label("is_note"), Allocation.amount, literal(0).label("applied"),
           Allocation.reversed, false().label("automatic"))
    .where(Allocation.payment_id == bindparam("payment_id"),
           Allocation.state == AllocationState.POSTED),
    select(literal(True), CreditNote.amount, CreditNote.applied, CreditNote.reversed,
           CreditNote.automatic).where(CreditNote.payment_id == bindparam("payment_id")))


def _money_rows(session: Session, payment_id: int) -> tuple[list[_Money], list[_Money]]:
    """The payment's posted allocations and its credit notes, in one statement."""
    rows = session.execute(_MONEY_ROWS, {"payment_id": payment_id}).all()
    money = [_Money(bool(r[0]), r[1], r[2], r[3], bool(r[4])) for r in rows]
    return [m for m in money if not m.is_note], [m for m in money if m.is_note]
