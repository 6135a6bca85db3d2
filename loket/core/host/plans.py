"""Payment plan compliance, the daily job: consumers are reminded before an installment
falls due and once it is overdue; a missed installment alerts the recovery executives with a
to-do; a plan that misses too many defaults (told to the host once); a plan paid in full is
completed.

Definitions (tenant settings; the dates are the tenant's, in its time zone):

- an installment is *overdue* the day after its due date while unpaid;
- it is *missed* once it is still unpaid ``plans.grace_days`` days after its due date
  (default 0: missed when overdue);
- a plan *defaults* when its missed installments reach ``plan_default_after_misses``
  (default 2): the plan becomes ``defaulted``, the host gets ``plan.defaulted`` through the
  outbox and ``loket_plan_defaulted`` is called — once, under the plan's row lock;
- consumers get ``plan.installment_due`` ``plans.remind_days_before`` days before a due date
  (default 3) and ``plan.installment_overdue`` the first day it is overdue, each once;
- a plan paid in full is completed (``plan.completed`` to the host, once), a defaulted one
  too: payments are still taken on it.

Run by the periodic job, each plan in its own transaction; idempotent.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.backoffice.queries import local_today
from loket.core.db import after_commit
from loket.core.host.plan_changes import installments, unpaid
from loket.core.models import Consumer, PaymentPlan, Receivable
from loket.core.outbox import events as outbox_events
from loket.core.outbox import messages
from loket.core.payments.posting import notify_later
from loket.core.settings import Settings, load_settings
from loket.core.states import PlanStatus
from loket.core.todos import raise_todo
from loket.money import Money
from loket.types import Notification, PlanInfo

log = logging.getLogger(__name__)
CHECKED = (PlanStatus.ACTIVE, PlanStatus.DEFAULTED)  # a defaulted plan can still be paid off


def plan_compliance(ctx) -> dict[str, int]:
    """Check every active payment plan (see the module's definitions), and complete every
    active or defaulted one that nothing is owed on any more.

    Each newly missed installment alerts the recovery executives
    (``notifications.recovery_executives``) once, with a to-do; the plan's
    ``missed_installments`` is kept current; when it reaches ``plan_default_after_misses``
    the plan becomes ``defaulted``, ``plan.defaulted`` goes to the host and
    ``loket_plan_defaulted`` is called, once. Consumer reminders and completed plans are
    logged.

    :returns: counts of ``missed`` (new alerts) and ``defaulted``.
    """
    now = ctx.now()
    with ctx.transaction() as session:
        plan_ids = list(session.scalars(select(PaymentPlan.id).where(
            PaymentPlan.status.in_(CHECKED)).order_by(PaymentPlan.id)))
    counts = {"missed": 0, "defaulted": 0}
    others = {"reminded": 0, "completed": 0}
    for plan_id in plan_ids:
        try:
            with ctx.transaction() as session:
                tenant_id = session.get_one(PaymentPlan, plan_id).tenant_id
                today = local_today(session, tenant_id, now)  # the tenant's date, not UTC's
                result = _check_plan(ctx, session, plan_id, today, now)
            for key, value in result.items():
                (counts if key in counts else others)[key] += value
        except Exception:  # noqa: BLE001 - one plan must not stop the others
            log.exception("compliance check of plan %s failed", plan_id)
    if any(others.values()):
        log.info("plan compliance: %s", others)
    return counts


def _check_plan(ctx, session: Session, plan_id: int, today: dt.date, now: dt.datetime
                ) -> dict[str, int]:
    plan = session.scalars(select(PaymentPlan).where(PaymentPlan.id == plan_id)
                           .with_for_update().execution_options(populate_existing=True)).one()
    if plan.status not in CHECKED:
        return {}
    rows = installments(session, plan)
    owing = unpaid(rows)
    consumer = session.get_one(Consumer, plan.consumer_id)
    if rows and not owing:
        _complete(session, plan, consumer, now)
        return {"completed": 1}
    if plan.status != PlanStatus.ACTIVE:  # defaulted: told once, it waits to be paid
        return {}
    settings = load_settings(session, plan.tenant_id)
    reminded = _remind(ctx, session, settings, plan, consumer, owing, today)
    grace = dt.timedelta(days=settings["plans"].get("grace_days", 0))
    missed = [r for r in owing if r.due_date is not None and r.due_date + grace < today]
    new = _alert_missed(ctx, session, settings, plan, consumer, missed)
    if plan.missed_installments != len(missed):
        audit.record(session, audit.SYSTEM, "plan.compliance", "payment_plan", plan.reference,
                     before={"missed_installments": plan.missed_installments},
                     after={"missed_installments": len(missed)}, tenant_id=plan.tenant_id)
        plan.missed_installments = len(missed)
    limit = settings["plan_default_after_misses"]
    if plan.missed_installments < limit or plan.defaulted_at is not None:
        return {"missed": new, "reminded": reminded}
    _default(ctx, session, settings, plan, consumer, now, limit)
    return {"missed": new, "defaulted": 1, "reminded": reminded}


def _remind(ctx, session: Session, settings: Settings, plan: PaymentPlan, consumer: Consumer,
            owing: list[Receivable], today: dt.date) -> int:
    """Remind the consumer (through the outbox, on the channels the tenant chose) before an
    installment falls due and once it is overdue; each reminder once (``plan.reminders``)."""
    before = dt.timedelta(days=settings["plans"].get("remind_days_before", 3))
    sent = list(plan.reminders or [])
    for row in owing:
        if row.due_date is None:
            continue
        if row.due_date < today:
            key, kind = f"late:{row.id}", "plan.installment_overdue"
        elif row.due_date - before <= today:
            key, kind = f"due:{row.id}", "plan.installment_due"
        else:
            continue
        if key in sent or f"late:{row.id}" in sent:
            continue
        values = {"name": consumer.name, "installment": row.reference, "plan": plan.reference,
                  "amount": Money(row.amount - row.paid, row.currency).format(
                      settings["locale"]), "due_date": row.due_date.isoformat()}
        addresses = messages.recipients(consumer, messages.channels_for(settings, kind))
        note = messages.notification(
            settings, plan.tenant_id, kind, values,
            {"plan": plan.reference, "installment": row.reference,
             "due_date": row.due_date.isoformat(), "outbox": True},
            tuple(address for _, address in addresses))
        messages.send_later(ctx, session, settings, consumer, note,
                            f"payment_plan:{plan.reference}")
        sent.append(key)
    reminded = len(sent) - len(plan.reminders or [])
    plan.reminders = sent
    return reminded


def _alert_missed(ctx, session: Session, settings: Settings, plan: PaymentPlan,
                  consumer: Consumer, missed: list[Receivable]) -> int:
    """A to-do and a mail to the recovery executives per newly missed installment."""
    recipients = tuple(settings["notifications"].get("recovery_executives") or ())
    new = 0
    for installment in missed:
        todo = raise_todo(session, plan.tenant_id, "plan.installment_missed",
                          f"Installment {installment.reference} of plan {plan.reference} "
                          f"was due {installment.due_date} and is unpaid",
                          entity_type="payment_plan", entity_id=plan.reference,
                          dedupe_key=f"installment-missed:{installment.id}")
        if todo is None:
            continue
        new += 1
        notify_later(ctx, session, Notification(
            tenant_id=plan.tenant_id, kind="plan.installment_missed",
            subject=f"Missed installment: plan {plan.reference}",
            body=(f"{consumer.name} (account {consumer.account_number}) missed installment "
                  f"{installment.reference} of payment plan {plan.reference}, due "
                  f"{installment.due_date}. Missed installments now: {len(missed)}."),
            recipients=recipients,
            data={"plan": plan.reference, "installment": installment.reference,
                  "account_number": consumer.account_number, "missed": len(missed)}))
    return new


def _default(ctx: Any, session: Session, settings: Settings, plan: PaymentPlan,
             consumer: Consumer, now: dt.datetime, limit: int) -> None:
    """Default the plan: audited, ``plan.defaulted`` to the host (outbox, this
    transaction), ``loket_plan_defaulted`` and the recovery executives after the commit."""
    plan.status = PlanStatus.DEFAULTED
    plan.defaulted_at = now
    audit.record(session, audit.SYSTEM, "plan.defaulted", "payment_plan", plan.reference,
                 before={"status": "active"},
                 after={"status": "defaulted", "missed_installments": plan.missed_installments},
                 tenant_id=plan.tenant_id)
    outbox_events.emit(session, plan.tenant_id, "plan.defaulted", {"plan": {
        "reference": plan.reference, "status": plan.status,
        "account_number": consumer.account_number, "currency": plan.currency,
        "missed_installments": plan.missed_installments, "limit": limit,
        "defaulted_at": now.isoformat()}}, f"payment_plan:{plan.reference}", now=now)
    info = PlanInfo(tenant_id=plan.tenant_id, reference=plan.reference,
                    account_number=consumer.account_number,
                    missed_installments=plan.missed_installments,
                    details={"consumer": consumer.name, "limit": limit})
    plugins = ctx.plugins
    after_commit(session, lambda: plugins.plan_defaulted(info))
    recipients = tuple(settings["notifications"].get("recovery_executives") or ())
    notify_later(ctx, session, Notification(
        tenant_id=plan.tenant_id, kind="plan.defaulted",
        subject=f"Payment plan {plan.reference} defaulted",
        body=(f"Payment plan {plan.reference} of {consumer.name} (account "
              f"{consumer.account_number}) defaulted after {plan.missed_installments} "
              f"missed installments."), recipients=recipients,
        data={"plan": plan.reference, "account_number": consumer.account_number,
              "missed": plan.missed_installments}))


def _complete(session: Session, plan: PaymentPlan, consumer: Consumer,
              now: dt.datetime) -> None:
    """Every installment is paid: the plan is completed (audited, told to the host)."""
    before = {"status": plan.status}
    plan.status = PlanStatus.COMPLETED
    plan.closed_at = now
    audit.record(session, audit.SYSTEM, "plan.completed", "payment_plan", plan.reference,
                 before=before, after={"status": "completed"},
                 tenant_id=plan.tenant_id)
    outbox_events.emit(session, plan.tenant_id, "plan.completed", {"plan": {
        "reference": plan.reference, "status": plan.status,
        "account_number": consumer.account_number, "currency": plan.currency}},
        f"payment_plan:{plan.reference}", now=now)
