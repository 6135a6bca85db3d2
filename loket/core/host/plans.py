"""Payment plan compliance: missed installments alert the recovery executives; a plan
that misses too many defaults.

Run by the periodic job, each plan in its own transaction; idempotent.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select

from loket.core import audit
from loket.core.backoffice.queries import local_today
from loket.core.db import after_commit
from loket.core.models import Consumer, PaymentPlan, Receivable
from loket.core.payments.posting import notify_later, raise_todo
from loket.core.settings import load_settings
from loket.core.states import PlanStatus, ReceivableStatus
from loket.types import Notification, PlanInfo

log = logging.getLogger(__name__)


def plan_compliance(ctx) -> dict[str, int]:
    """Check every active payment plan for installments past due and unpaid.

    Each newly missed installment alerts the recovery executives
    (``notifications.recovery_executives``) once, with a to-do; the plan's
    ``missed_installments`` is kept current; when it reaches ``plan_default_after_misses``
    the plan becomes ``defaulted`` and ``loket_plan_defaulted`` is called once.

    :returns: counts of ``missed`` (new alerts) and ``defaulted``.
    """
    now = ctx.now()
    with ctx.transaction() as session:
        plan_ids = list(session.scalars(select(PaymentPlan.id).where(
            PaymentPlan.status == PlanStatus.ACTIVE).order_by(PaymentPlan.id)))
    counts = {"missed": 0, "defaulted": 0}
    for plan_id in plan_ids:
        try:
            with ctx.transaction() as session:
                tenant_id = session.get(PaymentPlan, plan_id).tenant_id
                today = local_today(session, tenant_id, now)  # the tenant's date, not UTC's
                missed, defaulted = _check_plan(ctx, session, plan_id, today, now)
            counts["missed"] += missed
            counts["defaulted"] += defaulted
        except Exception:  # noqa: BLE001 - one plan must not stop the others
            log.exception("compliance check of plan %s failed", plan_id)
    return counts


def _check_plan(ctx, session, plan_id: int, today: dt.date, now: dt.datetime
                ) -> tuple[int, int]:
    plan = session.scalars(select(PaymentPlan).where(PaymentPlan.id == plan_id)
                           .with_for_update().execution_options(populate_existing=True)).one()
    if plan.status != PlanStatus.ACTIVE:
        return 0, 0
    overdue = session.scalars(select(Receivable).where(
        Receivable.plan_id == plan.id, Receivable.status == ReceivableStatus.OPEN,
        Receivable.due_date < today).order_by(Receivable.due_date, Receivable.id)).all()
    consumer = session.get(Consumer, plan.consumer_id)
    settings = load_settings(session, plan.tenant_id)
    recipients = tuple(settings["notifications"].get("recovery_executives") or ())
    new = 0
    for installment in overdue:
        todo = raise_todo(session, plan.tenant_id, "plan.installment_missed",
                          f"Installment {installment.reference} of plan {plan.reference} "
                          f"was due {installment.due_date} and is unpaid",
                          entity_type="payment_plan", entity_id=plan.reference,
                          dedupe_key=f"installment-missed:{installment.id}")
        if todo is None:
            continue
        new += 1
        notify_later(ctx.plugins, session, Notification(
            tenant_id=plan.tenant_id, kind="plan.installment_missed",
            subject=f"Missed installment: plan {plan.reference}",
            body=(f"{consumer.name} (account {consumer.account_number}) missed installment "
                  f"{installment.reference} of payment plan {plan.reference}, due "
                  f"{installment.due_date}. Missed installments now: {len(overdue)}."),
            recipients=recipients,
            data={"plan": plan.reference, "installment": installment.reference,
                  "account_number": consumer.account_number, "missed": len(overdue)}))
    if plan.missed_installments != len(overdue):
        audit.record(session, audit.SYSTEM, "plan.compliance", "payment_plan", plan.reference,
                     before={"missed_installments": plan.missed_installments},
                     after={"missed_installments": len(overdue)}, tenant_id=plan.tenant_id)
        plan.missed_installments = len(overdue)
    limit = settings["plan_default_after_misses"]
    if plan.missed_installments < limit or plan.defaulted_at is not None:
        return new, 0
    plan.status = PlanStatus.DEFAULTED
    plan.defaulted_at = now
    audit.record(session, audit.SYSTEM, "plan.defaulted", "payment_plan", plan.reference,
                 before={"status": "active"},
                 after={"status": "defaulted", "missed_installments": plan.missed_installments},
                 tenant_id=plan.tenant_id)
    info = PlanInfo(tenant_id=plan.tenant_id, reference=plan.reference,
                    account_number=consumer.account_number,
                    missed_installments=plan.missed_installments,
                    details={"consumer": consumer.name, "limit": limit})
    plugins = ctx.plugins
    after_commit(session, lambda: plugins.plan_defaulted(info))
    notify_later(ctx.plugins, session, Notification(
        tenant_id=plan.tenant_id, kind="plan.defaulted",
        subject=f"Payment plan {plan.reference} defaulted",
        body=(f"Payment plan {plan.reference} of {consumer.name} (account "
              f"{consumer.account_number}) defaulted after {plan.missed_installments} "
              f"missed installments."), recipients=recipients,
        data={"plan": plan.reference, "account_number": consumer.account_number,
              "missed": plan.missed_installments}))
    return new, 1
