"""Property tests of the KPI arithmetic: for any set of payments (any state, tests or not,
change and refunds, any instant around a daylight-saving change), Total Collected, its
count, the previous period and every trend equal a plain Python computation by local date;
the percentages equal exact fractions rounded half up."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert
from support.engine import ACTOR

from loket.core import tenants
from loket.core.backoffice import kpis, trends
from loket.core.backoffice.periods import Period
from loket.core.models import Payment
from loket.core.payments import lifecycle

ZONE = ZoneInfo("America/New_York")  # daylight saving starts on 9 March 2025
START = dt.datetime(2025, 2, 25, tzinfo=dt.UTC)
STATES = ("initiated", "succeeded", "completed", "posted", "failed", "refunded",
          "partially_refunded", "cancelled")
_slugs = itertools.count()

payment_strategy = st.fixed_dictionaries({
    "minute": st.integers(0, 80 * 24 * 60),
    "received": st.integers(1, 10_000_000),
    "change_share": st.integers(0, 100),
    "refund_share": st.integers(0, 100),
    "status": st.sampled_from(STATES),
    "is_test": st.booleans(),
    "channel": st.sampled_from(("walk-in", "online", "kiosk")),
})


def _insert(ctx, specs: list[dict]) -> tuple[int, list[dict]]:
    with ctx.transaction() as session:
        tenant_id = tenants.create_tenant(session, ACTOR, f"p{next(_slugs)}", "P", {
            "currency": "USD", "timezone": "America/New_York"}).id
    rows = []
    for i, spec in enumerate(specs):
        when = START + dt.timedelta(minutes=spec["minute"])
        change = spec["received"] * spec["change_share"] // 100
        refunded = (spec["received"] - change) * spec["refund_share"] // 100
        rows.append({
            "tenant_id": tenant_id, "number": f"P-{i}", "channel": spec["channel"],
            "method": "cash", "payment_type": "bill", "status": spec["status"],
            "currency": "USD", "amount": spec["received"], "fee": 0,
            "amount_received": spec["received"], "change_given": change,
            "refunded": refunded, "is_test": spec["is_test"], "gateway_details": {},
            "created_at": when, "paid_at": when, "updated_at": when})
    if rows:
        with ctx.transaction() as session:
            session.execute(insert(Payment), rows)
    return tenant_id, rows


def _expected(rows: list[dict], first: dt.date, last: dt.date) -> dict[dt.date, list[int]]:
    out: dict[dt.date, list[int]] = {}
    for r in rows:
        day = r["paid_at"].astimezone(ZONE).date()
        if first <= day <= last and r["status"] in lifecycle.MONEY_TAKEN and not r["is_test"]:
            net = r["amount_received"] - r["change_given"] - r["refunded"]
            out.setdefault(day, []).append(net)
    return out


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=st.lists(payment_strategy, max_size=30))
def test_collected_and_trends_equal_a_plain_computation_by_local_date(ctx, specs):
    tenant_id, rows = _insert(ctx, specs)
    now = dt.datetime(2025, 4, 10, 12, tzinfo=dt.UTC)
    april = _expected(rows, dt.date(2025, 4, 1), dt.date(2025, 4, 30))
    march = _expected(rows, dt.date(2025, 3, 1), dt.date(2025, 3, 31))
    with ctx.transaction() as session:
        k = kpis.kpis(session, tenant_id, now, month="2025-04")
        daily = trends.trends(session, tenant_id, now, interval="day",
                              date_from=dt.date(2025, 3, 1), date_to=dt.date(2025, 4, 30))
    total = sum(sum(v) for v in april.values())
    previous = sum(sum(v) for v in march.values())
    assert k["total_collected"]["amount"]["amount"] == total
    assert k["total_collected"]["count"] == sum(len(v) for v in april.values())
    assert k["total_collected"]["previous"]["amount"] == previous
    assert sum(a["amount"] for a in daily["totals"]["amounts"]) == total + previous
    by_day = {dt.date.fromisoformat(b["start"]): a["amount"]
              for b, a in zip(daily["buckets"], daily["totals"]["amounts"], strict=True)}
    assert {d: v for d, v in by_day.items() if v} == {
        d: sum(v) for d, v in {**march, **april}.items() if sum(v)}


@given(current=st.integers(0, 10**15), previous=st.integers(0, 10**15))
def test_percent_change_is_the_exact_fraction_rounded_half_up(current, previous):
    result = kpis.percent_change(current, previous)
    if previous == 0:
        assert result is None
        return
    exact = Fraction(current - previous, previous) * 100
    assert abs(Fraction(Decimal(result)) - exact) <= Fraction(1, 20)
    assert Decimal(result) == (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(
        Decimal("0.1"), rounding=ROUND_HALF_UP)


@given(part=st.integers(0, 10**15), whole=st.integers(0, 10**15))
def test_collection_rate_is_the_exact_fraction_rounded_half_up(part, whole):
    result = kpis.ratio_percent(part, whole)
    if whole == 0:
        assert result is None
        return
    exact = Fraction(part * 100, whole)
    assert abs(Fraction(Decimal(result)) - exact) <= Fraction(1, 200)


@given(first=st.dates(dt.date(2000, 1, 1), dt.date(2090, 1, 1)), days=st.integers(1, 800))
def test_the_previous_period_ends_the_day_before_and_is_as_long(first, days):
    period = Period(first, first + dt.timedelta(days=days - 1), "America/New_York")
    previous = period.previous()
    assert previous.last == first - dt.timedelta(days=1)
    whole_month = first.day == 1 and (period.last + dt.timedelta(days=1)).day == 1
    if whole_month and period.last.month == first.month:
        assert previous.first.day == 1 and previous.first.month != first.month
    elif not whole_month:
        assert previous.days == period.days
