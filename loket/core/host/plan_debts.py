"""Money taken back from what a payment plan covers stays owed through the plan.

A refund, a lost dispute or a cancelled counter payment takes money back from the items the
payment paid (:func:`loket.core.host.obligations.unpay`). Two kinds of item need their plan
too, or the debt would be owed nowhere:

- an item a plan took over (``in_plan``) counts in no balance: its plan's installments do.
  What is taken back from it is added to the plan as a new last installment, due one period
  (the plan's frequency; monthly when it has none) after the later of the plan's last due
  date and the tenant's today, and the plan's ``amount`` grows by it;
- an installment owed again on a ``completed`` plan makes the plan ``active`` again: the
  compliance job, reminders and payments work on it again (a default counts afresh, as after
  a reschedule).

Either change is audited (``plan.owed_again``), told to the host as ``plan.rescheduled``
(with the plan's unpaid installments and the reason) and raises a ``plan.owed_again`` to-do
for the recovery team, who may reschedule the plan. An installment owed again on an active
or defaulted plan needs nothing more (its reminders are sent again); one of a cancelled plan
counts in the account's balance like any open item.

Locks: every path locks the payment first, then the plans, then the receivables. A refund,
a lost dispute or a cancelled payment (by staff or reported by a gateway) has its payment
locked and locks the plans concerned before the receivables (:func:`lock_plans_of`); a
plan's cancellation locks the payments that paid the plan before the plan
(:func:`loket.core.host.plan_credit.lock_payers`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.backoffice.queries import local_today
from loket.core.host.plan_changes import installments, unpaid
from loket.core.host.plan_schedule import Frequency, due_dates
from loket.core.models import Allocation, Consumer, PaymentPlan, Receivable
from loket.core.outbox import events as outbox_events
from loket.core.states import AllocationState, PlanStatus, ReceivableStatus
from loket.core.todos import raise_todo
from loket.money import Money


def lock_plans_of(session: Session, payment_id: int) -> None:
    """Lock, in id order, the plans whose items or installments payment ``payment_id`` paid
    (its posted allocations): those a refund, a lost dispute or a cancellation of it may
    change. Called with the payment locked (its allocations cannot change meanwhile) and
    before the receivables it paid are locked: the order a plan's cancellation locks its
    payments, the plan and its installments in."""
    rows = session.scalars(select(Receivable).join(
        Allocation, Allocation.receivable_id == Receivable.id).where(
        Allocation.payment_id == payment_id, Allocation.state == AllocationState.POSTED)).all()
    _lock(session, set(_plan_ids(session, rows).values()))


def keep_debts(session: Session, taken: Iterable[tuple[Receivable, int]], cause: str,
               now: dt.datetime | None = None) -> None:
    """Keep owed, through their plans, the amounts just taken back from receivables (see
    the module). Called with the receivables locked, right after
    :func:`~loket.core.host.obligations.unpay`.

    :param taken: each receivable and the minor units taken back from it.
    :param cause: what took the money back, for the audit, the host and the to-do
        (``"refund of payment PAY-…"``).
    :param now: the current time (default the system clock).
    """
    taken = [(row, part) for row, part in taken if part > 0]
    plan_of = _plan_ids(session, [row for row, _ in taken])
    plans = _lock(session, set(plan_of.values()))
    by_plan: dict[int, list[tuple[Receivable, int]]] = {}
    for row, part in taken:
        plan_id = plan_of.get(row.id)
        if plan_id is not None:
            by_plan.setdefault(plan_id, []).append((row, part))
        elif row.status == ReceivableStatus.IN_PLAN:  # no plan holds it: owed on its own
            row.status = ReceivableStatus.OPEN
    for plan_id in sorted(by_plan):
        _owed_again(session, plans[plan_id], by_plan[plan_id], cause,
                    now or dt.datetime.now(dt.UTC))


def _plan_ids(session: Session, rows: Sequence[Receivable]) -> dict[int, int]:
    """Receivable id -> the plan it is an installment of, or the plan that took it over."""
    out = {row.id: row.plan_id for row in rows if row.plan_id is not None}
    held = [row for row in rows if row.status == ReceivableStatus.IN_PLAN]
    if held:
        plans = session.execute(select(PaymentPlan.id, PaymentPlan.source_items).where(
            PaymentPlan.consumer_id.in_({row.consumer_id for row in held}),
            PaymentPlan.status != PlanStatus.CANCELLED)).all()
        for row in held:
            for plan_id, items in plans:
                if row.id in (items or ()):
                    out[row.id] = plan_id
    return out


def _lock(session: Session, ids: set[int]) -> dict[int, PaymentPlan]:
    if not ids:
        return {}
    return {plan.id: plan for plan in session.scalars(
        select(PaymentPlan).where(PaymentPlan.id.in_(sorted(ids))).order_by(PaymentPlan.id)
        .with_for_update().execution_options(populate_existing=True))}


def _owed_again(session: Session, plan: PaymentPlan, rows: list[tuple[Receivable, int]],
                cause: str, now: dt.datetime) -> None:
    """Add what the plan's items lost as a new installment, send the reminders of its
    installments owed again afresh, and make a completed plan active again."""
    if plan.status == PlanStatus.CANCELLED:
        return
    again = {str(row.id) for row, _ in rows if row.plan_id == plan.id}
    plan.reminders = [k for k in plan.reminders or [] if k.partition(":")[2] not in again]
    items = [(row, part) for row, part in rows if row.plan_id != plan.id]
    added = sum(part for _, part in items)
    before = {"status": plan.status, "amount": plan.amount}
    if added:
        _add_installment(session, plan, added, [row for row, _ in items], cause, now)
    reopened = plan.status == PlanStatus.COMPLETED
    if reopened:
        plan.status = PlanStatus.ACTIVE
        plan.closed_at = None
        plan.missed_installments = 0
        plan.defaulted_at = None
    if not added and not reopened:
        return
    owing = unpaid(installments(session, plan))
    schedule = [{"reference": r.reference, "amount": r.amount, "paid": r.paid,
                 "due_date": r.due_date.isoformat() if r.due_date else None,
                 "status": r.status} for r in owing]
    total = Money(sum(part for _, part in rows), plan.currency)
    audit.record(session, audit.SYSTEM, "plan.owed_again", "payment_plan", plan.reference,
                 before=before, after={"status": plan.status, "amount": plan.amount,
                                       "added": added, "cause": cause, "schedule": schedule},
                 tenant_id=plan.tenant_id)
    consumer = session.get_one(Consumer, plan.consumer_id)
    outbox_events.emit(session, plan.tenant_id, "plan.rescheduled", {
        "plan": {"reference": plan.reference, "status": plan.status,
                 "account_number": consumer.account_number, "currency": plan.currency},
        "schedule": schedule, "reason": f"{total.decimal_string()} owed again: {cause}"},
        f"payment_plan:{plan.reference}", now=now)
    raise_todo(session, plan.tenant_id, "plan.owed_again",
               f"Payment plan {plan.reference} is owed {total.format()} again: {cause}"[:200],
               detail=("A new installment holds what its items lost. " if added else "")
               + ("The plan was completed and is active again. " if reopened else "")
               + "Tell the consumer, or reschedule the plan.",
               entity_type="payment_plan", entity_id=plan.reference)


def _add_installment(session: Session, plan: PaymentPlan, amount: int,
                     items: list[Receivable], cause: str, now: dt.datetime) -> Receivable:
    rows = installments(session, plan)
    today = local_today(session, plan.tenant_id, now)
    last = max((r.due_date for r in rows if r.due_date is not None), default=today)
    due = due_dates(max(last, today), 2, Frequency(plan.frequency or Frequency.MONTHLY))[1]
    sequence = max((r.sequence or 0 for r in rows), default=0) + 1
    what = ", ".join(f"{r.kind} {r.reference}" for r in items)
    row = Receivable(tenant_id=plan.tenant_id, consumer_id=plan.consumer_id,
                     kind="installment", reference=f"{plan.reference}-{sequence}",
                     description=f"Payment plan {plan.reference}: owed again on {what} "
                                 f"({cause})"[:300],
                     period="owed again", amount=amount, paid=0, currency=plan.currency,
                     due_date=due, status=ReceivableStatus.OPEN, plan_id=plan.id,
                     sequence=sequence, issued_on=today)
    session.add(row)
    session.flush()
    if plan.amount is not None:
        plan.amount += amount
    return row
