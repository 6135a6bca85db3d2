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

    In a session that defers its checks (:func:`defer_checks`) the payment is only noted,
    and checked in the state it ends in by :func:`check_deferred` before commit.
    """
    deferred = session.info.get(_DEFERRED)
    if deferred is not None:
        deferred[id(payment)] = payment
        return
    session.flush()
    _check(payment, *_money_rows(session, [payment.id])[payment.id])


_DEFERRED = "deferred_invariant_checks"
"""``Session.info`` key of the payments a session's :func:`check_deferred` will check."""


def defer_checks(session: Session) -> None:
    """From now on, :func:`check_invariants` in ``session`` notes each payment instead of
    checking it at once; :func:`check_deferred` must run before the commit. For a batch
    that runs optimistically (:func:`loket.core.db.run_optimistically`): a payment is then
    checked once, in its final state, and a broken one fails the whole batch."""
    session.info[_DEFERRED] = {}


def check_deferred(session: Session) -> None:
    """Check every payment noted since :func:`defer_checks` (one flush, one statement for
    all of them) and stop deferring.

    :raises InvariantBroken: for the first payment that breaks an invariant.
    """
    payments = list((session.info.pop(_DEFERRED, None) or {}).values())
    if not payments:
        return
    session.flush()
    money = _money_rows(session, [p.id for p in payments])
    for payment in payments:
        _check(payment, *money[payment.id])


def _check(payment: Payment, allocations: list[_Money], notes: list[_Money]) -> None:
    """The invariants of :func:`check_invariants` over the payment's money rows."""
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
    select(Allocation.payment_id, literal(False).label("is_note"), Allocation.amount,
           literal(0).label("applied"), Allocation.reversed, false().label("automatic"))
    .where(Allocation.payment_id.in_(bindparam("payment_ids", expanding=True)),
           Allocation.state == AllocationState.POSTED),
    select(CreditNote.payment_id, literal(True), CreditNote.amount, CreditNote.applied,
           CreditNote.reversed, CreditNote.automatic)
    .where(CreditNote.payment_id.in_(bindparam("payment_ids", expanding=True))))


def _money_rows(session: Session, payment_ids: list[int]
                ) -> dict[int, tuple[list[_Money], list[_Money]]]:
    """Each payment's posted allocations and its credit notes, in one statement."""
    money: dict[int, tuple[list[_Money], list[_Money]]] = {i: ([], []) for i in payment_ids}
    for payment_id, *values in session.execute(_MONEY_ROWS, {"payment_ids": payment_ids}):
        row = _Money(bool(values[0]), values[1], values[2], values[3], bool(values[4]))
        money[payment_id][1 if row.is_note else 0].append(row)
    return money
