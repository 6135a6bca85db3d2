"""Reading payment plans: the list with its compliance filters, and one plan's standing
(schedule, paid, remaining, next due, compliance).

Compliance, for the tenant's today (its time zone): a plan that defaulted is ``defaulted``;
an active plan with an installment unpaid past its due date is ``at_risk``; any other
active plan is ``on_track``. A completed or cancelled plan has none.
"""

from __future__ import annotations

import datetime as dt

import attrs
from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from loket.core.backoffice.paging import Page, contains, paginate
from loket.core.backoffice.queries import local_today
from loket.core.host.plan_changes import installments, unpaid
from loket.core.models import Consumer, PaymentPlan, Receivable
from loket.core.states import PlanCompliance, PlanStatus, ReceivableStatus
from loket.errors import ValidationFailed


@attrs.frozen
class PlanFilters:
    """The plans list's search and filters: ``q`` matches the plan reference, the
    consumer's name or account; ``status``; ``compliance``; ``account`` (exact)."""

    q: str | None = None
    status: str | None = None
    compliance: str | None = None
    account: str | None = None


@attrs.frozen
class PlanStanding:
    """Where a plan stands today (amounts in minor units)."""

    plan: PaymentPlan
    consumer: Consumer
    schedule: list[Receivable]
    amount: int
    paid: int
    remaining: int
    next_due: Receivable | None
    overdue: list[Receivable]
    compliance: PlanCompliance | None
    items: list[Receivable]


def _overdue_clause(today: dt.date):
    return exists().where(Receivable.plan_id == PaymentPlan.id,
                          Receivable.status == ReceivableStatus.OPEN,
                          Receivable.amount > Receivable.paid, Receivable.due_date < today)


def list_plans(session: Session, tenant_id: int, filters: PlanFilters, now: dt.datetime,
               page: int = 1, limit: int = 20) -> Page:
    """Plans matching the filters, newest first.

    :raises ValidationFailed: an unknown compliance or status.
    """
    query = (select(PaymentPlan).join(Consumer, Consumer.id == PaymentPlan.consumer_id)
             .where(PaymentPlan.tenant_id == tenant_id))
    if filters.q:
        q = filters.q.strip()
        query = query.where(or_(contains(PaymentPlan.reference, q), contains(Consumer.name, q),
                                contains(Consumer.account_number, q)))
    if filters.account:
        query = query.where(Consumer.account_number == filters.account)
    if filters.status:
        try:
            query = query.where(PaymentPlan.status == PlanStatus(filters.status))
        except ValueError:
            raise ValidationFailed(f"unknown plan status {filters.status!r}",
                                   field="status") from None
    if filters.compliance:
        try:
            wanted = PlanCompliance(filters.compliance)
        except ValueError:
            raise ValidationFailed(f"unknown compliance {filters.compliance!r}",
                                   field="compliance") from None
        overdue = _overdue_clause(local_today(session, tenant_id, now))
        active = PaymentPlan.status == PlanStatus.ACTIVE
        query = query.where({PlanCompliance.DEFAULTED: PaymentPlan.status == PlanStatus.DEFAULTED,
                             PlanCompliance.AT_RISK: and_(active, overdue),
                             PlanCompliance.ON_TRACK: and_(active, ~overdue)}[wanted])
    return paginate(session, query, (PaymentPlan.created_at.desc(), PaymentPlan.id.desc()),
                     page, limit)


def compliance_of(plan: PaymentPlan, overdue: list[Receivable]) -> PlanCompliance | None:
    """A plan's compliance given its installments unpaid past their due date."""
    if plan.status == PlanStatus.DEFAULTED:
        return PlanCompliance.DEFAULTED
    if plan.status != PlanStatus.ACTIVE:
        return None
    return PlanCompliance.AT_RISK if overdue else PlanCompliance.ON_TRACK


def standing(session: Session, plan: PaymentPlan, now: dt.datetime) -> PlanStanding:
    """Where ``plan`` stands on the tenant's today."""
    today = local_today(session, plan.tenant_id, now)
    taken_over = set(plan.source_items or ())  # an item it took over is no installment
    rows = [r for r in installments(session, plan) if r.id not in taken_over]
    live = [r for r in rows if r.status != ReceivableStatus.CANCELLED]
    owing = unpaid(rows)
    overdue = [r for r in owing if r.due_date is not None and r.due_date < today]
    items = list(session.scalars(select(Receivable).where(
        Receivable.id.in_(plan.source_items or [])).order_by(Receivable.due_date,
                                                               Receivable.id)))
    return PlanStanding(
        plan=plan, consumer=session.get_one(Consumer, plan.consumer_id), schedule=rows,
        amount=sum(r.amount for r in live), paid=sum(r.paid for r in live),
        remaining=sum(r.amount - r.paid for r in owing), next_due=owing[0] if owing else None,
        overdue=overdue, compliance=compliance_of(plan, overdue), items=items)
