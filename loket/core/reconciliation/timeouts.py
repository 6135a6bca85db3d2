"""Succeeded payments the gateway has not settled in time become to-dos for staff.

Run by the periodic job; idempotent (one to-do per payment).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from loket.core.models import Allocation, Payment
from loket.core.settings import load_settings
from loket.core.todos import raise_todo
from loket.types import PaymentStatus

DEFAULT_RECONCILIATION_DAYS = 2


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
            succeeded_at = payment.succeeded_at
            if days is None or succeeded_at is None or now - succeeded_at < dt.timedelta(
                    days=days):
                continue
            todo = raise_todo(
                session, payment.tenant_id, "payment.reconciliation_timeout",
                f"Payment {payment.number} is not settled {days} day(s) after it succeeded",
                detail=f"Settlement status: {payment.settlement_status}. Check the gateway's "
                       f"payouts or reconcile by hand.", entity_type="payment",
                entity_id=payment.number, dedupe_key=f"reconciliation-timeout:{payment.id}")
            raised += todo is not None
    return raised
