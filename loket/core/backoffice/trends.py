"""Collection trends: the Total Collected of the KPIs cut into days, weeks or months and
split by channel, method or payment type, as series ready for a chart.

One grouped statement joins the payments of the period against the buckets' UTC bounds
(computed from local midnights), so the points of a trend add up exactly to the KPI total
of the same period.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from loket.core.backoffice.kpis import NET, in_period, taken
from loket.core.backoffice.periods import Interval, bucket_starts, buckets_table, select_period
from loket.core.backoffice.queries import local_today
from loket.core.db import money_sum
from loket.core.models import Payment
from loket.core.settings import load_settings
from loket.errors import ValidationFailed
from loket.money import Money


class SplitBy(enum.StrEnum):
    """What a trend's series are."""

    CHANNEL = "channel"
    METHOD = "method"
    TYPE = "type"


_COLUMNS = {SplitBy.CHANNEL: Payment.channel, SplitBy.METHOD: Payment.method,
            SplitBy.TYPE: Payment.payment_type}


def trends(session: Session, tenant_id: int, now: dt.datetime, interval: str = "day",
           by: str = "channel", date_from: dt.date | None = None,
           date_to: dt.date | None = None, month: str | None = None) -> dict[str, Any]:
    """Collections per bucket of the period (default the current month), one series per
    value of ``by``.

    :returns: ``{"interval", "by", "period", "currency", "buckets": [{"start", "end"}],
        "series": [{"key", "amounts": [Money...], "counts": [...]}], "totals": {"amounts",
        "counts"}, "total": Money}`` where ``amounts[i]`` belongs to ``buckets[i]``.
    :raises ValidationFailed: an unknown interval or split, a bad period, too many points.
    """
    try:
        step, split = Interval(interval), SplitBy(by)
    except ValueError as exc:
        field = "interval" if interval not in Interval.__members__.values() else "by"
        raise ValidationFailed(str(exc), field=field) from None
    settings = load_settings(session, tenant_id)
    currency = settings.currency
    period = select_period(local_today(session, tenant_id, now), settings["timezone"], month,
                           date_from, date_to)
    starts = bucket_starts(period, step)
    table = buckets_table(period, starts)
    column = _COLUMNS[split]
    rows = session.execute(
        select(table.c.idx, column, money_sum(NET), func.count(Payment.id))
        .select_from(Payment)
        .join(table, and_(Payment.paid_at >= table.c.lo, Payment.paid_at < table.c.hi))
        .where(taken(tenant_id), in_period(period))
        .group_by(table.c.idx, column)).all()
    size = len(starts)
    amounts: dict[str, list[int]] = {}
    counts: dict[str, list[int]] = {}
    for idx, key, amount, count in rows:
        amounts.setdefault(key, [0] * size)[int(idx)] += int(amount)
        counts.setdefault(key, [0] * size)[int(idx)] += int(count)
    ends = [s - dt.timedelta(days=1) for s in starts[1:]] + [period.last]
    total_amounts = [sum(series[i] for series in amounts.values()) for i in range(size)]
    total_counts = [sum(series[i] for series in counts.values()) for i in range(size)]

    def m(value: int) -> dict[str, Any]:
        return Money(value, currency).to_json()

    return {
        "interval": step.value, "by": split.value, "currency": currency,
        "period": period.to_json(),
        "buckets": [{"start": s.isoformat(), "end": e.isoformat()}
                    for s, e in zip(starts, ends, strict=True)],
        "series": [{"key": key, "amounts": [m(v) for v in amounts[key]],
                    "counts": counts[key]} for key in sorted(amounts)],
        "totals": {"amounts": [m(v) for v in total_amounts], "counts": total_counts},
        "total": m(sum(total_amounts)),
    }
