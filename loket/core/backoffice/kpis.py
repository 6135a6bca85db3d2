"""The back-office dashboard figures (KPIs), in minor units."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from loket.core.backoffice.queries import day_bounds, local_today
from loket.core.db import money_sum
from loket.core.models import CreditNote, Payment, Receivable, Todo
from loket.core.payments import lifecycle
from loket.core.settings import load_settings
from loket.core.states import CreditNoteStatus, ReceivableStatus, TodoStatus
from loket.money import Money


def kpis(session: Session, tenant_id: int, now: dt.datetime) -> dict:
    """The dashboard figures (minor units): collected today and this month (net of change
    and refunds) in all and by channel and method, payment counts by status, the
    outstanding total, unused credit and open to-dos."""
    currency = load_settings(session, tenant_id).currency
    today = local_today(session, tenant_id, now)
    day_start = day_bounds(session, tenant_id, today)[0]
    month_start = day_bounds(session, tenant_id, today.replace(day=1))[0]
    net = Payment.amount_received - Payment.change_given - Payment.refunded
    taken = and_(Payment.tenant_id == tenant_id, Payment.is_test.is_(False),
                 Payment.status.in_(lifecycle.MONEY_TAKEN))

    def collected(since: dt.datetime) -> dict:
        when = func.coalesce(Payment.paid_at, Payment.created_at)
        total = session.scalar(select(money_sum(net)).where(
            taken, when >= since)) or 0
        out = {"total": Money(int(total), currency).to_json()}
        for name, column in (("by_channel", Payment.channel), ("by_method", Payment.method)):
            rows = session.execute(select(column, money_sum(net)).where(taken, when >= since)
                                   .group_by(column).order_by(column)).all()
            out[name] = {key: Money(int(value or 0), currency).to_json() for key, value in rows}
        return out

    counts = dict(session.execute(select(Payment.status, func.count(Payment.id)).where(
        Payment.tenant_id == tenant_id, Payment.is_test.is_(False)).group_by(
        Payment.status)).all())
    outstanding = session.scalar(select(money_sum(
        Receivable.amount - Receivable.paid)).where(
        Receivable.tenant_id == tenant_id, Receivable.status == ReceivableStatus.OPEN)) or 0
    credit = session.scalar(select(money_sum(
        CreditNote.amount - CreditNote.applied - CreditNote.reversed)).where(
        CreditNote.tenant_id == tenant_id, CreditNote.status == CreditNoteStatus.ACTIVE,
        CreditNote.expires_at > now)) or 0
    todos = session.scalar(select(func.count(Todo.id)).where(
        Todo.tenant_id == tenant_id, Todo.status == TodoStatus.OPEN)) or 0
    return {"currency": currency, "date": today.isoformat(),
            "collected_today": collected(day_start), "collected_this_month": collected(month_start),
            "payments_by_status": {s: int(counts.get(s, 0)) for s in sorted(
                set(lifecycle.DISPLAY) | set(counts))},
            "outstanding": Money(int(outstanding), currency).to_json(),
            "unused_credit": Money(int(credit), currency).to_json(), "open_todos": int(todos)}
