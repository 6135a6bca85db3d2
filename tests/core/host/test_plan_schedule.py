"""A payment plan's schedule, as properties: its installments sum exactly to the amount,
differ by at most one minor unit, and fall due in order at the plan's frequency."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from loket.core.host.plan_schedule import Frequency, add_months, build, split

amounts = st.integers(min_value=0, max_value=10**15)
counts = st.integers(min_value=1, max_value=120)
days = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2090, 12, 31))


@given(amounts, counts)
def test_a_split_sums_exactly_and_is_as_even_as_can_be(amount, count):
    parts = split(amount, count)
    assert sum(parts) == amount and len(parts) == count
    assert max(parts) - min(parts) <= 1
    assert parts == sorted(parts, reverse=True)  # the left-over units go first


@given(st.data(), counts, st.sampled_from(list(Frequency)), days)
def test_a_schedule_sums_to_the_plan_amount_with_its_down_payment(data, count, frequency,
                                                                  first):
    amount = data.draw(st.integers(min_value=count + 1, max_value=10**12))
    down = data.draw(st.integers(min_value=0, max_value=amount - count))
    today = first - dt.timedelta(days=data.draw(st.integers(min_value=0, max_value=30)))
    schedule = build(amount, count, frequency, first, down, today)
    assert sum(i.amount for i in schedule) == amount
    assert all(i.amount > 0 for i in schedule)
    regular = schedule[1:] if down else schedule
    assert len(regular) == count
    if down:
        assert (schedule[0].amount, schedule[0].due_date) == (down, today)
    dates = [i.due_date for i in regular]
    assert dates[0] == first and dates == sorted(dates) and len(set(dates)) == count


@given(days, st.integers(min_value=0, max_value=240))
def test_monthly_dates_keep_the_day_or_the_month_end(first, months):
    later = add_months(first, months)
    assert (later.year * 12 + later.month) - (first.year * 12 + first.month) == months
    assert later.day == first.day or (later.day < first.day
                                      and (later + dt.timedelta(days=1)).day == 1)


def test_the_31st_monthly_falls_on_each_months_last_day_without_drifting():
    got = [d.isoformat() for d in
           (add_months(dt.date(2025, 1, 31), n) for n in range(4))]
    assert got == ["2025-01-31", "2025-02-28", "2025-03-31", "2025-04-30"]
