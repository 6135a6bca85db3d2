"""Reporting periods in the tenant's time zone: a selected month or date range, the period
before it, and the buckets (days, weeks, months) a trend is cut into.

Every boundary is computed here once, as UTC instants of local midnights, so the SQL that
reads by them stays a plain range condition on an indexed timestamp (no time-zone arithmetic
in the database, identical on SQLite and PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from zoneinfo import ZoneInfo

import attrs
from sqlalchemy import Integer, literal, select, union_all
from sqlalchemy.sql import Subquery

from loket.core.models import UTCDateTime
from loket.errors import ValidationFailed

MAX_BUCKETS = 400  # a trend answers at most this many points (a year and a bit by day)
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class Interval(enum.StrEnum):
    """How a trend is cut."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@attrs.frozen
class Period:
    """Local dates ``first`` .. ``last`` (both included) in the time zone ``zone``."""

    first: dt.date
    last: dt.date
    zone: str

    @property
    def days(self) -> int:
        """How many days the period has."""
        return (self.last - self.first).days + 1

    def start(self) -> dt.datetime:
        """The UTC instant the period starts (local midnight of ``first``)."""
        return local_midnight(self.first, self.zone)

    def end(self) -> dt.datetime:
        """The UTC instant the period ends (local midnight after ``last``), excluded."""
        return local_midnight(self.last + dt.timedelta(days=1), self.zone)

    def previous(self) -> Period:
        """The period just before: the previous calendar month for a whole month, else the
        same number of days just before ``first``."""
        if self.first.day == 1 and (self.last + dt.timedelta(days=1)).day == 1:
            last = self.first - dt.timedelta(days=1)
            return Period(last.replace(day=1), last, self.zone)
        return Period(self.first - dt.timedelta(days=self.days),
                      self.first - dt.timedelta(days=1), self.zone)

    def to_json(self) -> dict:
        """``{"from": "2025-04-01", "to": "2025-04-30", "timezone": ...}``."""
        return {"from": self.first.isoformat(), "to": self.last.isoformat(),
                "timezone": self.zone}


def local_midnight(day: dt.date, zone: str) -> dt.datetime:
    """The UTC instant of midnight starting ``day`` in ``zone``."""
    return dt.datetime.combine(day, dt.time(), ZoneInfo(zone)).astimezone(dt.UTC)


def month_period(month: str, zone: str) -> Period:
    """The calendar month ``YYYY-MM``."""
    match = _MONTH.match(month)
    if not match:
        raise ValidationFailed("month must look like 2025-04", field="month")
    first = dt.date(int(match.group(1)), int(match.group(2)), 1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return Period(first, following - dt.timedelta(days=1), zone)


def select_period(today: dt.date, zone: str, month: str | None = None,
                  date_from: dt.date | None = None, date_to: dt.date | None = None) -> Period:
    """The period a request selects: ``month``, or ``date_from``/``date_to`` (either may be
    left out: the month's first day / today), or by default the current month.

    :raises ValidationFailed: both a month and dates, a range ending before it starts, or a
        range longer than :data:`MAX_BUCKETS` days.
    """
    if month and (date_from or date_to):
        raise ValidationFailed("give either month or from/to, not both", field="month")
    if month:
        return month_period(month, zone)
    if date_from is None and date_to is None:
        return month_period(today.strftime("%Y-%m"), zone)
    last = date_to or today
    first = date_from or last.replace(day=1)
    if first > last:
        raise ValidationFailed("from must not be after to", field="from")
    if (last - first).days + 1 > 3 * MAX_BUCKETS:
        raise ValidationFailed(f"a period is at most {3 * MAX_BUCKETS} days", field="to")
    return Period(first, last, zone)


def bucket_starts(period: Period, interval: Interval) -> list[dt.date]:
    """The local first day of every bucket covering the period (weeks start on Monday; the
    first bucket may start before the period and is clipped to it)."""
    starts = [period.first]
    step = period.first
    while True:
        if interval is Interval.DAY:
            step = step + dt.timedelta(days=1)
        elif interval is Interval.WEEK:
            step = step - dt.timedelta(days=step.weekday()) + dt.timedelta(days=7)
        else:
            step = (step.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        if step > period.last:
            return starts
        starts.append(step)
        if len(starts) > MAX_BUCKETS:
            raise ValidationFailed(f"at most {MAX_BUCKETS} points: choose a longer interval "
                                   f"or a shorter period", field="interval")


def buckets_table(period: Period, starts: list[dt.date]) -> Subquery:
    """A derived table ``(idx, lo, hi)`` of the buckets' UTC bounds, to join a timestamp
    against (``lo <= t < hi``): one statement groups a whole series."""
    ends = starts[1:] + [period.last + dt.timedelta(days=1)]
    rows = [select(literal(i, Integer).label("idx"),
                   literal(local_midnight(lo, period.zone), UTCDateTime()).label("lo"),
                   literal(local_midnight(hi, period.zone), UTCDateTime()).label("hi"))
            for i, (lo, hi) in enumerate(zip(starts, ends, strict=True))]
    return union_all(*rows).subquery("buckets") if len(rows) > 1 else rows[0].subquery(
        "buckets")
