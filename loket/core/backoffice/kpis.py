"""The back-office dashboard figures (KPIs) for a selected period, in minor units.

Definitions (every period is a range of local dates in the tenant's time zone; a payment
belongs to the period in which its money was taken, ``paid_at``):

- **Total Collected**: the net of every non-test payment whose money was taken (succeeded,
  completed, posted, partially refunded, refunded) in the period: received less change
  less refunded. Shown beside the previous period (the previous calendar month for a month,
  else as many days just before) with the change in percent (``null`` when the previous
  period collected nothing).
- **Received Today**: the same net and the number of those payments taken today.
- **Total Due**: the amount of every bill, service and installment, not cancelled, whose
  due date falls in the period (whether paid or not): an item a payment plan took over
  counts through the plan's installments while the plan holds it, and by itself again
  once the plan is cancelled (the cancelled plan's installments then no longer count).
- **Collection Rate** = Total Collected / Total Due x 100, two decimals, ``null`` when
  nothing fell due.
- **Avg Collection Time**: the mean, over every item a posted or completed payment of the
  period paid, of the days from the item's issue date (``issued_on``) to the local date the
  payment was taken; one decimal, ``null`` without such payments.

All figures come from a few aggregate statements; nothing iterates over payment rows. On
PostgreSQL the collected money and the counts by status are read from running tallies
(:mod:`loket.core.backoffice.tallies`), so their cost does not grow with the payments.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import ColumnElement, Date, Integer, and_, cast, func, or_, select, type_coerce
from sqlalchemy.orm import Session

from loket import types as t
from loket.core.backoffice import tallies
from loket.core.backoffice.periods import (
    Interval,
    Period,
    bucket_starts,
    buckets_table,
    select_period,
)
from loket.core.backoffice.queries import local_today
from loket.core.db import money_sum
from loket.core.models import Allocation, CreditNote, Payment, PaymentPlan, Receivable, Todo
from loket.core.payments import lifecycle
from loket.core.settings import load_settings
from loket.core.states import PlanStatus, ReceivableStatus
from loket.money import Money

COLLECTION_TIME_STATES = (t.POSTED, t.COMPLETED)
NET = Payment.amount_received - Payment.change_given - Payment.refunded


def taken(tenant_id: int) -> ColumnElement[bool]:
    """The payments whose money counts as collected: the tenant's, not tests, money taken."""
    return and_(Payment.tenant_id == tenant_id, Payment.is_test.is_(False),
                Payment.status.in_(lifecycle.MONEY_TAKEN))


def in_period(period: Period) -> ColumnElement[bool]:
    """Payments taken within ``period`` (a range on the indexed ``paid_at``)."""
    return and_(Payment.paid_at >= period.start(), Payment.paid_at < period.end())


def percent_change(current: int, previous: int) -> str | None:
    """``(current - previous) / previous x 100`` with one decimal, ``None`` from zero."""
    if previous == 0:
        return None
    value = Decimal(current - previous) * 100 / Decimal(previous)
    return str(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def ratio_percent(part: int, whole: int) -> str | None:
    """``part / whole x 100`` with two decimals, ``None`` when ``whole`` is zero."""
    if whole == 0:
        return None
    value = Decimal(part) * 100 / Decimal(whole)
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _collected(session: Session, tenant_id: int, period: Period) -> dict[str, Any]:
    """Net and count in the period, and by channel, method and type (one grouped query: of
    the running tallies on PostgreSQL, of the payments elsewhere)."""
    if tallies.available(session):
        rows: Any = tallies.collected(session, tenant_id, period.first, period.last)
    else:
        rows = session.execute(
            select(Payment.channel, Payment.method, Payment.payment_type, money_sum(NET),
                   func.count(Payment.id))
            .where(taken(tenant_id), in_period(period))
            .group_by(Payment.channel, Payment.method, Payment.payment_type)).all()
    out: dict[str, Any] = {"amount": 0, "count": 0, "by_channel": {}, "by_method": {},
                           "by_type": {}}
    for channel, method, kind, amount, count in rows:
        out["amount"] += int(amount)
        out["count"] += int(count)
        for name, key in (("by_channel", channel), ("by_method", method), ("by_type", kind)):
            out[name][key] = out[name].get(key, 0) + int(amount)
    return out


def _due(session: Session, tenant_id: int, period: Period) -> int:
    # A cancelled plan that took over items gave what its installments received back to
    # those items, which are owed again: its installments would count that debt twice.
    replaced = select(PaymentPlan.id).where(
        PaymentPlan.tenant_id == tenant_id, PaymentPlan.status == PlanStatus.CANCELLED,
        func.json_array_length(PaymentPlan.source_items) > 0)
    return int(session.scalar(select(money_sum(Receivable.amount)).where(
        Receivable.tenant_id == tenant_id,
        Receivable.status.not_in((ReceivableStatus.CANCELLED, ReceivableStatus.IN_PLAN)),
        or_(Receivable.plan_id.is_(None), Receivable.plan_id.not_in(replaced)),
        Receivable.due_date >= period.first, Receivable.due_date <= period.last)) or 0)


def _collection_days(session: Session, tenant_id: int, period: Period) -> tuple[int, int]:
    """``(sum of days, number of items)`` from issue to payment over the period's posted and
    completed payments: two grouped statements (by local payment day, by issue date), one
    on PostgreSQL."""
    paid_items = and_(Allocation.payment_id == Payment.id, Allocation.state == "posted",
                      Payment.tenant_id == tenant_id, Payment.is_test.is_(False),
                      Payment.status.in_(COLLECTION_TIME_STATES), in_period(period),
                      Receivable.id == Allocation.receivable_id,
                      Receivable.issued_on.is_not(None))
    if session.get_bind().dialect.name == "postgresql":
        # PostgreSQL dates each payment in the tenant's zone itself (one statement).
        paid_on = cast(func.timezone(period.zone, Payment.paid_at), Date)
        total, items = session.execute(
            select(func.coalesce(func.sum(type_coerce(paid_on - Receivable.issued_on, Integer)), 0),
                   func.count(Allocation.id))
            .select_from(Allocation).join(Payment, Payment.id == Allocation.payment_id)
            .join(Receivable, Receivable.id == Allocation.receivable_id)
            .where(paid_items)).one()
        return int(total), int(items)
    days = buckets_table(period, bucket_starts(period, Interval.DAY))
    by_day = session.execute(
        select(days.c.idx, func.count(Allocation.id))
        .select_from(Allocation).join(Payment, Payment.id == Allocation.payment_id)
        .join(Receivable, Receivable.id == Allocation.receivable_id)
        .join(days, and_(Payment.paid_at >= days.c.lo, Payment.paid_at < days.c.hi))
        .where(paid_items).group_by(days.c.idx)).all()
    by_issue = session.execute(
        select(Receivable.issued_on, func.count(Allocation.id))
        .select_from(Allocation).join(Payment, Payment.id == Allocation.payment_id)
        .join(Receivable, Receivable.id == Allocation.receivable_id)
        .where(paid_items).group_by(Receivable.issued_on)).all()
    first = period.first.toordinal()
    paid_ordinals = issue_ordinals = items = 0
    for idx, count in by_day:
        paid_ordinals += (first + int(idx)) * int(count)
        items += int(count)
    for day, count in by_issue:
        issue_ordinals += _as_date(day).toordinal() * int(count)
    return paid_ordinals - issue_ordinals, items


def _as_date(value: object) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def _mean_days(total: int, items: int) -> str | None:
    if items == 0:
        return None
    return str((Decimal(total) / Decimal(items)).quantize(Decimal("0.1"),
                                                           rounding=ROUND_HALF_UP))


def period_figures(session: Session, tenant_id: int, period: Period) -> dict[str, Any]:
    """The raw figures of one period (minor units, counts): ``collected``, ``due``,
    ``collection_days`` ``(sum, items)``. Called twice per dashboard (period, previous)."""
    return {"collected": _collected(session, tenant_id, period),
            "due": _due(session, tenant_id, period),
            "collection_days": _collection_days(session, tenant_id, period)}


def _standing(session: Session, tenant_id: int, now: dt.datetime
              ) -> tuple[dict[str, int], int, int, int]:
    """What stands now, whatever the period: payment counts by status, the outstanding
    total, unused credit and open to-dos."""
    if tallies.available(session):
        counts = tallies.by_status(session, tenant_id)
    else:
        counts = dict(session.execute(select(Payment.status, func.count()).where(
            Payment.tenant_id == tenant_id, Payment.is_test.is_(False)).group_by(
            Payment.status)).all())
    outstanding = session.scalar(select(money_sum(
        Receivable.amount - Receivable.paid)).where(
        Receivable.tenant_id == tenant_id, Receivable.status == "open")) or 0
    credit = session.scalar(select(money_sum(
        CreditNote.amount - CreditNote.applied - CreditNote.reversed)).where(
        CreditNote.tenant_id == tenant_id, CreditNote.status == "active",
        CreditNote.expires_at > now)) or 0
    todos = session.scalar(select(func.count(Todo.id)).where(
        Todo.tenant_id == tenant_id, Todo.status == "open")) or 0
    return counts, outstanding, credit, todos


def _breakdown(figures: dict[str, Any], currency: str) -> dict[str, Any]:
    """Collected money, in total and by channel, method and type."""
    def m(value: int) -> dict[str, Any]:
        return Money(value, currency).to_json()
    return {"total": m(figures["amount"]), **{
        name: {k: m(v) for k, v in sorted(figures[name].items())}
        for name in ("by_channel", "by_method", "by_type")}}


def _days_change(days: str | None, days_before: str | None) -> str | None:
    """The percentage change of the mean collection time (one decimal), when both exist."""
    if days is None or days_before is None or Decimal(days_before) == 0:
        return None
    return str(((Decimal(days) - Decimal(days_before)) * 100 / Decimal(days_before)
                ).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def kpis(session: Session, tenant_id: int, now: dt.datetime, month: str | None = None,
         date_from: dt.date | None = None, date_to: dt.date | None = None) -> dict[str, Any]:
    """The dashboard for the selected period (``month`` ``YYYY-MM`` or ``date_from`` /
    ``date_to``; default the current month in the tenant's time zone): the four header KPIs
    with the previous period and the change, the period's collections by channel, method
    and type, and today's and the current month's collections, payment counts by status,
    the outstanding total, unused credit and open to-dos.

    :raises ValidationFailed: an unreadable or contradictory period.
    """
    settings = load_settings(session, tenant_id)
    currency, zone = settings.currency, settings["timezone"]
    today = local_today(session, tenant_id, now)
    period = select_period(today, zone, month, date_from, date_to)
    previous = period.previous()
    current, before = (period_figures(session, tenant_id, period),
                       period_figures(session, tenant_id, previous))
    today_period = Period(today, today, zone)
    today_figures = _collected(session, tenant_id, today_period)
    this_month = select_period(today, zone)
    month_figures = (current["collected"] if this_month == period
                     else _collected(session, tenant_id, this_month))

    def m(value: int) -> dict[str, Any]:
        return Money(value, currency).to_json()

    collected, collected_before = current["collected"]["amount"], before["collected"]["amount"]
    rate = ratio_percent(collected, current["due"])
    rate_before = ratio_percent(collected_before, before["due"])
    days = _mean_days(*current["collection_days"])
    days_before = _mean_days(*before["collection_days"])
    counts, outstanding, credit, todos = _standing(session, tenant_id, now)
    return {
        "currency": currency, "date": today.isoformat(),
        "period": period.to_json(), "previous_period": previous.to_json(),
        "total_collected": {
            "amount": m(collected), "count": current["collected"]["count"],
            "previous": m(collected_before),
            "previous_count": before["collected"]["count"],
            "change_percent": percent_change(collected, collected_before)},
        "received_today": {"amount": m(today_figures["amount"]),
                           "count": today_figures["count"]},
        "collection_rate": {
            "percent": rate, "collected": m(collected), "due": m(current["due"]),
            "previous_percent": rate_before, "previous_due": m(before["due"]),
            "change_points": None if rate is None or rate_before is None else str(
                Decimal(rate) - Decimal(rate_before))},
        "avg_collection_time": {
            "days": days, "items": current["collection_days"][1],
            "previous_days": days_before, "change_percent": _days_change(days, days_before)},
        "collected_in_period": _breakdown(current["collected"], currency),
        "collected_today": _breakdown(today_figures, currency),
        "collected_this_month": _breakdown(month_figures, currency),
        "payments_by_status": {s: int(counts.get(s, 0)) for s in sorted(
            set(lifecycle.DISPLAY) | set(counts))},
        "outstanding": m(int(outstanding)), "unused_credit": m(int(credit)),
        "open_todos": int(todos)}
