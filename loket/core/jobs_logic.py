"""What the periodic jobs do, without the job queue: each function takes the container,
works in its own short transactions, and is idempotent — run twice, or on two machines at
once, it changes nothing the second time. :mod:`loket.jobs.tasks` schedules them.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select

from loket.core import audit

from loket.core.payments import credit_notes

from loket.core.gateway_configs import configs

from loket.core.webhooks import outcomes
from loket.core.db import after_commit
from loket.core.models import (
    Allocation,
    Consumer,
    GatewayConfiguration,
    Payment,
    PaymentPlan,
    Receivable,
)
from loket.core.payments.posting import raise_todo
from loket.core.backoffice.queries import local_today
from loket.core.settings import load_settings
from loket.types import Notification, PlanInfo
from loket.types import PaymentStatus
from loket.core.states import PlanStatus, ReceivableStatus

log = logging.getLogger(__name__)

HANDSHAKE_EVERY = dt.timedelta(hours=20)
"""A configuration checked more recently than this is skipped (the job is daily)."""
HANDSHAKE_REMIND_AFTER = dt.timedelta(days=7)
"""A persisting handshake failure is mailed once, then at most once a week."""
DEFAULT_RECONCILIATION_DAYS = 2


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.timezone.utc)


def _notify_later(ctx, session, note: Notification) -> None:
    if note.recipients:
        plugins = ctx.plugins
        after_commit(session, lambda: plugins.notify(note))


# --- daily gateway handshake ----------------------------------------------------------


def handshake_sweep(ctx) -> dict[str, int]:
    """Run the handshake of every connected configuration not checked in the last day.

    A failure is recorded on the configuration (``last_handshake_error``, the gateway's own
    words); the tenant admins (``notifications.tenant_admins``) are e-mailed and a to-do is
    raised when the failure starts, then reminded at most weekly while it persists. A
    success clears the failure.

    :returns: counts of ``ok``, ``failed`` and ``alerted``.
    """
    now = ctx.now()
    with ctx.transaction() as session:
        ids = list(session.scalars(select(GatewayConfiguration.id).where(
            GatewayConfiguration.connected.is_(True)).order_by(GatewayConfiguration.id)))
    counts = {"ok": 0, "failed": 0, "alerted": 0}
    for config_id in ids:
        try:
            with ctx.transaction() as session:
                row = session.get(GatewayConfiguration, config_id, with_for_update=True)
                last = _aware(row.last_handshake_at)
                if row.kind not in ctx.plugins.gateways or (
                        last is not None and now - last < HANDSHAKE_EVERY):
                    continue
                error = configs.handshake(ctx, session, row)
                if error is None:
                    counts["ok"] += 1
                    continue
                counts["failed"] += 1
                if _alert_handshake(ctx, session, row, error, now):
                    counts["alerted"] += 1
        except Exception:  # noqa: BLE001 - one configuration must not stop the others
            log.exception("handshake of configuration %s failed unexpectedly", config_id)
    return counts


def _alert_handshake(ctx, session, row: GatewayConfiguration, error: str,
                     now: dt.datetime) -> bool:
    alerted = _aware(row.handshake_alerted_at)
    if alerted is not None and now - alerted < HANDSHAKE_REMIND_AFTER:
        return False
    first = alerted is None
    row.handshake_alerted_at = now
    name = ctx.plugins.gateways[row.kind].display_name
    if first:
        raise_todo(session, row.tenant_id, "gateway.handshake_failed",
                   f"{name} handshake failed", detail=error, entity_type="gateway",
                   entity_id=row.kind,
                   dedupe_key=f"handshake:{row.id}:{now.date().isoformat()}")
    settings = load_settings(session, row.tenant_id)
    recipients = tuple(settings["notifications"].get("tenant_admins") or ())
    days = row.handshake_failures
    body = (f"The daily check of {name} failed{'' if first else ' again'}"
            f"{f' ({days} checks in a row)' if days > 1 else ''}.\n\n"
            f"The gateway said: {error}\n\nPayments through {name} may fail until the "
            f"credentials are fixed in loket's gateway settings.")
    _notify_later(ctx, session, Notification(
        tenant_id=row.tenant_id, kind="gateway.handshake_failed",
        subject=f"{name}: daily check failed", body=body, recipients=recipients,
        data={"gateway": row.kind, "error": error, "failures": days, "reminder": not first}))
    audit.record(session, audit.SYSTEM, "gateway.handshake_failed", "gateway", row.kind,
                 after={"error": error, "failures": days, "mailed": list(recipients)},
                 tenant_id=row.tenant_id)
    return True


# --- payment timeout --------------------------------------------------------------------


def payment_timeout_sweep(ctx, limit: int = 500) -> dict[str, int]:
    """Fail every ``initiated`` payment past its expiry, after asking the gateway once
    (:func:`loket.core.webhooks.outcomes.expire_overdue`).

    :returns: how many payments ended in each state.
    """
    now = ctx.now()
    with ctx.transaction() as session:
        ids = list(session.scalars(select(Payment.id).where(
            Payment.status == PaymentStatus.INITIATED, Payment.expires_at <= now,
            Payment.gateway_configuration_id.is_not(None)).order_by(Payment.id).limit(limit)))
    counts: dict[str, int] = {}
    for payment_id in ids:
        try:
            with ctx.transaction() as session:
                state = outcomes.expire_overdue(ctx, session, session.get(Payment, payment_id))
        except Exception:  # noqa: BLE001 - retried by the next sweep
            log.exception("timeout sweep of payment %s failed", payment_id)
            state = "error"
        counts[state] = counts.get(state, 0) + 1
    return counts


# --- pending reconciliation -------------------------------------------------------------


def _timeout_days(settings, destinations: set[str]) -> int | None:
    """The shortest ``reconciliation.timeout_days`` of the destinations that require
    reconciliation, or ``None`` when none does."""
    days = []
    for destination in destinations:
        route = settings["destinations"].get(destination) or {}
        rule = route.get("reconciliation") or {}
        if rule.get("required", True):
            days.append(int(rule.get("timeout_days", DEFAULT_RECONCILIATION_DAYS)))
    return min(days) if days else None


def reconciliation_timeouts(ctx) -> int:
    """Raise a to-do for every ``succeeded`` online payment not settled within its
    destination's ``reconciliation.timeout_days`` (once per payment).

    :returns: how many to-dos were raised.
    """
    now = ctx.now()
    raised = 0
    with ctx.transaction() as session:
        payments = session.scalars(select(Payment).where(
            Payment.status == PaymentStatus.SUCCEEDED, Payment.is_test.is_(False),
            Payment.succeeded_at.is_not(None)).order_by(Payment.id)).all()
        settings_of: dict[int, object] = {}
        for payment in payments:
            if payment.tenant_id not in settings_of:
                settings_of[payment.tenant_id] = load_settings(session, payment.tenant_id)
            destinations = set(session.scalars(select(Allocation.destination).where(
                Allocation.payment_id == payment.id)))
            if payment.destination and payment.destination != "mixed":
                destinations.add(payment.destination)
            days = _timeout_days(settings_of[payment.tenant_id], destinations)
            if days is None or now - _aware(payment.succeeded_at) < dt.timedelta(days=days):
                continue
            todo = raise_todo(
                session, payment.tenant_id, "payment.reconciliation_timeout",
                f"Payment {payment.number} is not settled {days} day(s) after it succeeded",
                detail=f"Settlement status: {payment.settlement_status}. Check the gateway's "
                       f"payouts or reconcile by hand.", entity_type="payment",
                entity_id=payment.number, dedupe_key=f"reconciliation-timeout:{payment.id}")
            raised += todo is not None
    return raised


# --- payment plan compliance ------------------------------------------------------------


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
        _notify_later(ctx, session, Notification(
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
    _notify_later(ctx, session, Notification(
        tenant_id=plan.tenant_id, kind="plan.defaulted",
        subject=f"Payment plan {plan.reference} defaulted",
        body=(f"Payment plan {plan.reference} of {consumer.name} (account "
              f"{consumer.account_number}) defaulted after {plan.missed_installments} "
              f"missed installments."), recipients=recipients,
        data={"plan": plan.reference, "account_number": consumer.account_number,
              "missed": plan.missed_installments}))
    return new, 1


# --- credit notes -----------------------------------------------------------------------


def expire_credit_notes(ctx) -> int:
    """Expire active credit notes past their date (all tenants); returns how many."""
    with ctx.transaction() as session:
        return credit_notes.expire_credit_notes(ctx, session)
