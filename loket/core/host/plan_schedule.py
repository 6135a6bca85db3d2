"""A payment plan's schedule: how an amount splits into installments and when they fall due.

Pure arithmetic on integer minor units and dates: the installments of a schedule always sum
exactly to the amount scheduled.
"""

from __future__ import annotations

import calendar
import datetime as dt
import enum

import attrs

MAX_INSTALLMENTS = 120


class Frequency(enum.StrEnum):
    """How often a plan's installments fall due."""

    WEEKLY = "weekly"
    BIWEEKLY = "biweekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"


@attrs.frozen
class ScheduledInstallment:
    """One installment of a schedule: its amount (minor units) and due date."""

    amount: int
    due_date: dt.date


def split(amount: int, count: int) -> list[int]:
    """Split ``amount`` (minor units) into ``count`` installments as equal as can be; the
    minor units left over go one each to the first installments.

    :raises ValueError: ``count`` below 1 or ``amount`` negative.
    """
    if count < 1 or amount < 0:
        raise ValueError("split needs a count of at least 1 and an amount not below zero")
    base, left = divmod(amount, count)
    return [base + (1 if n < left else 0) for n in range(count)]


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by ``months`` calendar months; a day past the month's end becomes its
    last day (31 January + 1 month = 28 or 29 February)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def due_dates(first: dt.date, count: int, frequency: Frequency) -> list[dt.date]:
    """The due dates of ``count`` installments from ``first`` (monthly and quarterly ones
    keep ``first``'s day of the month, counted from ``first`` so that short months do not
    drift the later ones)."""
    if frequency is Frequency.WEEKLY:
        return [first + dt.timedelta(weeks=n) for n in range(count)]
    if frequency is Frequency.BIWEEKLY:
        return [first + dt.timedelta(weeks=2 * n) for n in range(count)]
    step = 3 if frequency is Frequency.QUARTERLY else 1
    return [add_months(first, step * n) for n in range(count)]


def build(amount: int, count: int, frequency: Frequency, first_due_on: dt.date,
          down_payment: int = 0, down_payment_due_on: dt.date | None = None
          ) -> list[ScheduledInstallment]:
    """The installments of a plan for ``amount``: an optional down payment (due on
    ``down_payment_due_on``, default ``first_due_on``) and then ``count`` installments of
    what is left, the first due on ``first_due_on``.

    :raises ValueError: a down payment not below the amount, or too few minor units left to
        give every installment at least one.
    """
    if not 0 <= down_payment < amount:
        raise ValueError("the down payment must be less than the plan's amount")
    rest = amount - down_payment
    if rest < count:
        raise ValueError("the amount is too small for that many installments")
    out = []
    if down_payment:
        out.append(ScheduledInstallment(down_payment, down_payment_due_on or first_due_on))
    dates = due_dates(first_due_on, count, frequency)
    out.extend(ScheduledInstallment(part, when) for part, when in zip(split(rest, count), dates,
                                                                    strict=True))
    return out
