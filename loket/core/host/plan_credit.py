"""What a cancelled payment plan received, given back to its account: credited to the items
the plan took over, oldest due first; what none of them can take (an item the host cancelled
while the plan ran, before loket refused that) becomes credit notes of the payments that
paid the plan, exactly as an overpayment does.

The money moves as a refund would move it (:mod:`loket.core.payments.refunds`): out of the
newest allocations to the plan's installments, into an automatic credit note of each
payment concerned; so a payment's allocations, credit notes, change, fee and refunds still
add up to what it received. It locks as a refund does too: the payments first, then the
plan, then the receivables (:func:`lock_payers`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.host.obligations import unpay
from loket.core.models import Allocation, Payment, PaymentPlan, Receivable
from loket.core.payments.invariants import check_invariants
from loket.core.payments.posting import create_credit_note, lock_payment
from loket.core.settings import load_settings
from loket.core.states import AllocationState, ReceivableStatus
from loket.core.todos import raise_todo
from loket.errors import Conflict
from loket.money import Money

PAYERS_TRIED = 3  # times a cancellation locks a plan's payers before it gives up


def lock_payers(session: Session, plan: PaymentPlan) -> PaymentPlan:
    """Lock, in id order, the payments whose allocations to ``plan``'s installments are
    posted (those a cancellation may give money back to), then the plan and its
    installments; returns the plan, read afresh. Called by a cancellation before anything
    of the plan is locked, so that it locks in the order a refund, a lost dispute or a
    cancelled payment locks in (the payment, then the plans it paid, then the receivables)
    and the two wait for each other instead of deadlocking.

    A payment that paid the plan between the look at its payers and the locks (its
    installments locked, no more can) was not locked first: the locks are given back (to a
    savepoint) and taken again, at most :data:`PAYERS_TRIED` times.

    :raises Conflict: the plan's payers changed every time (field ``plan``).
    """
    for _ in range(PAYERS_TRIED):
        savepoint = session.begin_nested()
        locked = set(session.scalars(select(Payment.id).where(Payment.id.in_(_paid_by(plan)))
                                     .order_by(Payment.id).with_for_update()))
        plan = session.scalars(select(PaymentPlan).where(PaymentPlan.id == plan.id)
                               .with_for_update().execution_options(populate_existing=True)
                               ).one()
        session.scalars(select(Receivable).where(Receivable.plan_id == plan.id)
                        .order_by(Receivable.id).with_for_update()).all()
        if set(session.scalars(_paid_by(plan))) <= locked:
            savepoint.commit()
            return plan
        savepoint.rollback()
    raise Conflict(f"payment plan {plan.reference} was being paid meanwhile: try again",
                   field="plan")


def _paid_by(plan: PaymentPlan) -> Select[Any]:
    """The ids of the payments with allocations posted to ``plan``'s installments."""
    return select(Allocation.payment_id).where(
        Allocation.receivable_id.in_(select(Receivable.id).where(Receivable.plan_id == plan.id)),
        Allocation.state == AllocationState.POSTED).distinct()


def credit_items(ctx: Any, session: Session, actor: audit.Actor, plan: PaymentPlan,
                 rows: list[Receivable]) -> tuple[list[dict], list[str]]:
    """Credit the items plan ``plan`` took over with what its installments ``rows`` (ended,
    locked) received, and give back what they cannot take. A row among those items (one
    the host tagged with the plan before loket refused that) counts as none of them.

    An item still ``in_plan`` reopens (``open``, or ``paid`` when the credit covers it);
    any other (one the host cancelled meanwhile) keeps its status and takes nothing.
    Called by :func:`loket.core.host.plan_changes.cancel_plan` with the plan locked.

    :returns: ``(the items as the audit and the host see them, the numbers of the credit
        notes made)``.
    """
    taken_over = set(plan.source_items or ())
    rows = [r for r in rows if r.id not in taken_over]  # what it received is not the plan's
    received = sum(r.paid for r in rows)
    items = session.scalars(select(Receivable).where(
        Receivable.id.in_(plan.source_items or [])).with_for_update()
        .order_by(Receivable.due_date, Receivable.id)).all()
    reopened = []
    for item in items:
        credit = 0
        if item.status == ReceivableStatus.IN_PLAN:
            credit = min(received, item.amount - item.paid)
            item.paid += credit
            received -= credit
            item.status = ReceivableStatus.PAID if item.paid >= item.amount else \
                ReceivableStatus.OPEN
        reopened.append({"reference": item.reference, "credited": credit,
                         "status": item.status})
    if not items or received <= 0:
        return reopened, []
    return reopened, _give_back(ctx, session, actor, plan, rows, received)


def _give_back(ctx: Any, session: Session, actor: audit.Actor, plan: PaymentPlan,
               rows: list[Receivable], excess: int) -> list[str]:
    """Move ``excess`` out of the newest allocations to the installments ``rows`` into
    automatic credit notes of their payments; the installments end again at what they keep.
    What no allocation holds (the installments were paid with credit notes) is left to
    staff as a ``plan.credit_left`` to-do.

    :returns: the numbers of the credit notes made.
    """
    installments = {r.id: r for r in rows}
    allocations = session.scalars(select(Allocation).where(
        Allocation.receivable_id.in_(installments), Allocation.state == AllocationState.POSTED)
        .order_by(Allocation.id.desc()).with_for_update()).all()
    taken: dict[int, int] = {}
    for allocation in allocations:
        part = min(excess, allocation.amount - allocation.reversed)
        if part <= 0:
            continue
        allocation.reversed += part
        unpay(installments[allocation.receivable_id], part)
        taken[allocation.payment_id] = taken.get(allocation.payment_id, 0) + part
        excess -= part
        if excess == 0:
            break
    for row in rows:  # each ends, again, at what it keeps
        if row.status == ReceivableStatus.OPEN:
            row.amount, row.status = (row.paid, ReceivableStatus.PAID) if row.paid else \
                (row.amount, ReceivableStatus.CANCELLED)
    settings = load_settings(session, plan.tenant_id)
    numbers = []
    for payment_id in sorted(taken):
        payment = lock_payment(session, payment_id)
        note = create_credit_note(
            session, settings, actor, payment, taken[payment_id], "Billing Adjustment",
            f"Automatic: payment plan {plan.reference} was cancelled and an item it was paid "
            "for had been cancelled by the host", True, ctx.now())
        check_invariants(session, payment)
        numbers.append(note.number)
    if excess:
        raise_todo(session, plan.tenant_id, "plan.credit_left",
                   f"Payment plan {plan.reference} was cancelled with "
                   f"{Money(excess, plan.currency).decimal_string()} {plan.currency} that no "
                   "item can take", detail="It was paid with credit notes: give it back by "
                   "hand.", entity_type="payment_plan", entity_id=plan.reference)
    return numbers
