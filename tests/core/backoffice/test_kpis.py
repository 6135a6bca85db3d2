"""The seed's KPIs and trends computed by hand on a small data set in a tenant east of UTC
(Asia/Jakarta, UTC+7), including payments on the month's last local day and on the first
local day of the next month that is still the last day in UTC."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from support.api import api  # noqa: F401 - fixture
from support.engine import ACTOR

from loket.core import tenants
from loket.core.backoffice import kpis, trends
from loket.core.host import receivables
from loket.core.payments import refunds
from loket.core.payments.counter_payments import CounterPayment, record_counter_payment
from loket.errors import ValidationFailed

JAKARTA = ZoneInfo("Asia/Jakarta")


def at(ctx, year, month, day, hour, minute=0) -> dt.datetime:
    """Set the container's clock to a local Jakarta time; returns it in UTC."""
    moment = dt.datetime(year, month, day, hour, minute, tzinfo=JAKARTA).astimezone(dt.UTC)
    ctx.clock = lambda: moment
    return moment


def pay(ctx, tenant_id, account, kind, reference, received, method="cash", change="0"):
    with ctx.transaction() as session:
        paid_on = ctx.now().astimezone(JAKARTA).date().isoformat()
        return record_counter_payment(ctx, session, ACTOR, tenant_id, CounterPayment(
            account_number=account, payment_type=kind, method=method,
            amount_received=received, change_given=change, paid_on=paid_on,
            references=(reference,)))


ITEMS = [  # account, kind, reference, amount, due, issued, status
    ("ACC-1", "bill", "B1", "100.00", "2025-04-10", "2025-04-01", "open"),
    ("ACC-1", "bill", "B2", "50.00", "2025-04-30", "2025-04-05", "open"),
    ("ACC-2", "bill", "B3", "200.00", "2025-04-20", "2025-03-25", "open"),
    ("ACC-2", "bill", "B4", "80.00", "2025-03-15", "2025-03-01", "open"),
    ("ACC-2", "service", "S1", "30.00", "2025-05-02", "2025-04-28", "open"),
    ("ACC-1", "bill", "B5", "60.00", "2025-04-25", "2025-04-02", "cancelled"),
]


@pytest.fixture
def jakarta(ctx):
    """A Jakarta tenant with the items above and five payments:

    - P1 2025-03-20 10:00: B4, 80.00 cash (March)
    - P2 2025-04-03 09:00: B1, 120.00 cash with 20.00 change (net 100.00)
    - P3 2025-04-30 23:30 local (16:30 UTC): B2, 50.00 card — the month's last local day
    - P4 2025-05-01 00:30 local (2025-04-30 17:30 UTC): S1, 30.00 cash — May locally
    - P5 2025-04-15 10:00: B3, 150.00 card, 20.00 refunded later (net 130.00)
    """
    at(ctx, 2025, 3, 1, 8)
    with ctx.transaction() as session:
        tenant = tenants.create_tenant(session, ACTOR, "jkt", "Tirta Jakarta",
                                       {"currency": "USD", "timezone": "Asia/Jakarta"})
        for account, name in (("ACC-1", "Ani"), ("ACC-2", "Budi")):
            receivables.upsert_consumer(session, ACTOR, tenant.id,
                                        {"account_number": account, "name": name})
        for account, kind, reference, amount, due, issued, status in ITEMS:
            receivables.upsert_receivable(session, ACTOR, tenant.id, {
                "account_number": account, "kind": kind, "reference": reference,
                "amount": amount, "due_date": due, "issued_on": issued, "status": status})
        tenant_id = tenant.id
    at(ctx, 2025, 3, 20, 10)
    pay(ctx, tenant_id, "ACC-2", "bill", "B4", "80.00")
    at(ctx, 2025, 4, 3, 9)
    pay(ctx, tenant_id, "ACC-1", "bill", "B1", "120.00", change="20.00")
    at(ctx, 2025, 4, 15, 10)
    p5 = pay(ctx, tenant_id, "ACC-2", "bill", "B3", "150.00", method="card")
    at(ctx, 2025, 4, 30, 23, 30)
    pay(ctx, tenant_id, "ACC-1", "bill", "B2", "50.00", method="card")
    at(ctx, 2025, 5, 1, 0, 30)
    pay(ctx, tenant_id, "ACC-2", "service", "S1", "30.00")
    at(ctx, 2025, 5, 1, 8)
    with ctx.transaction() as session:
        refunds.refund_payment(ctx, session, ACTOR, session.merge(p5), "20.00", "goodwill")
    return tenant_id


def figures(ctx, tenant_id, **period):
    with ctx.transaction() as session:
        return kpis.kpis(session, tenant_id, ctx.now(), **period)


def test_every_kpi_of_april_matches_the_hand_computation(ctx, jakarta):
    k = figures(ctx, jakarta, month="2025-04")
    assert k["period"] == {"from": "2025-04-01", "to": "2025-04-30", "timezone": "Asia/Jakarta"}
    assert k["previous_period"]["from"] == "2025-03-01" and \
        k["previous_period"]["to"] == "2025-03-31"
    total = k["total_collected"]
    # P2 100.00 + P5 130.00 + P3 50.00 (23:30 on 30 April locally); P4 is May locally.
    assert (total["amount"]["decimal"], total["count"]) == ("280.00", 3)
    assert (total["previous"]["decimal"], total["previous_count"]) == ("80.00", 1)
    assert total["change_percent"] == "250.0"  # (280 - 80) / 80
    rate = k["collection_rate"]
    # Due in April: B1 100 + B2 50 + B3 200 (B5 cancelled, S1 due in May) = 350.
    assert (rate["due"]["decimal"], rate["percent"]) == ("350.00", "80.00")
    assert (rate["previous_due"]["decimal"], rate["previous_percent"]) == ("80.00", "100.00")
    assert rate["change_points"] == "-20.00"
    avg = k["avg_collection_time"]
    # Posted payments only (P5 is partially refunded): B1 3 Apr - 1 Apr = 2 days,
    # B2 30 Apr - 5 Apr = 25 days -> 13.5; March: B4 20 Mar - 1 Mar = 19 days.
    assert (avg["days"], avg["items"], avg["previous_days"]) == ("13.5", 2, "19.0")
    assert avg["change_percent"] == "-28.9"  # (13.5 - 19) / 19
    assert k["collected_in_period"]["by_method"] == {
        "card": {"amount": 18000, "currency": "USD", "decimal": "180.00"},
        "cash": {"amount": 10000, "currency": "USD", "decimal": "100.00"}}
    assert {key: v["decimal"] for key, v in k["collected_in_period"]["by_type"].items()} == {
        "bill": "280.00"}


def test_received_today_counts_the_local_day(ctx, jakarta):
    k = figures(ctx, jakarta)  # today is 1 May in Jakarta (still 30 April in UTC at 00:30)
    assert k["date"] == "2025-05-01" and k["period"]["from"] == "2025-05-01"
    assert (k["received_today"]["amount"]["decimal"], k["received_today"]["count"]) == (
        "30.00", 1)
    assert k["total_collected"]["amount"]["decimal"] == "30.00"
    assert k["total_collected"]["previous"]["decimal"] == "280.00"
    assert k["collected_today"]["by_type"]["service"]["decimal"] == "30.00"


def test_a_date_range_compares_with_as_many_days_before(ctx, jakarta):
    k = figures(ctx, jakarta, date_from=dt.date(2025, 4, 16), date_to=dt.date(2025, 4, 30))
    assert k["previous_period"] == {"from": "2025-04-01", "to": "2025-04-15",
                                    "timezone": "Asia/Jakarta"}
    assert k["total_collected"]["amount"]["decimal"] == "50.00"
    assert k["total_collected"]["previous"]["decimal"] == "230.00"
    # Due 16-30 April: B3 (20 Apr) 200 + B2 (30 Apr) 50; 50 / 250 = 20 %.
    assert (k["collection_rate"]["due"]["decimal"], k["collection_rate"]["percent"]) == (
        "250.00", "20.00")


def test_nothing_due_gives_no_rate(ctx, jakarta):
    k = figures(ctx, jakarta, month="2024-01")
    assert k["collection_rate"]["percent"] is None
    assert k["total_collected"]["change_percent"] is None
    assert k["avg_collection_time"]["days"] is None


@pytest.mark.parametrize("interval,by,expected", [
    ("week", "method", {"cash": ["100.00", "0.00", "0.00", "0.00", "0.00"],
                        "card": ["0.00", "0.00", "130.00", "0.00", "50.00"]}),
    ("month", "channel", {"walk-in": ["280.00"]}),
])
def test_trends_add_up_to_the_kpi_total(ctx, jakarta, interval, by, expected):
    with ctx.transaction() as session:
        series = trends.trends(session, jakarta, ctx.now(), interval=interval, by=by,
                               month="2025-04")
    assert {s["key"]: [a["decimal"] for a in s["amounts"]] for s in series["series"]} == \
        expected
    assert series["total"]["decimal"] == figures(ctx, jakarta, month="2025-04")[
        "total_collected"]["amount"]["decimal"]
    assert sum(series["totals"]["counts"]) == 3


def test_daily_trend_puts_the_late_evening_payment_on_the_last_local_day(ctx, jakarta):
    with ctx.transaction() as session:
        series = trends.trends(session, jakarta, ctx.now(), interval="day", by="type",
                               date_from=dt.date(2025, 4, 29), date_to=dt.date(2025, 5, 1))
    assert [b["start"] for b in series["buckets"]] == ["2025-04-29", "2025-04-30",
                                                       "2025-05-01"]
    by_key = {s["key"]: [a["decimal"] for a in s["amounts"]] for s in series["series"]}
    assert by_key == {"bill": ["0.00", "50.00", "0.00"], "service": ["0.00", "0.00", "30.00"]}


def test_weekly_buckets_start_on_monday_and_are_clipped_to_the_period(ctx, jakarta):
    with ctx.transaction() as session:
        series = trends.trends(session, jakarta, ctx.now(), interval="week", month="2025-04")
    assert [(b["start"], b["end"]) for b in series["buckets"]] == [
        ("2025-04-01", "2025-04-06"), ("2025-04-07", "2025-04-13"),
        ("2025-04-14", "2025-04-20"), ("2025-04-21", "2025-04-27"),
        ("2025-04-28", "2025-04-30")]


def test_bad_periods_are_refused_naming_the_field(ctx, jakarta):
    with ctx.transaction() as session:
        with pytest.raises(ValidationFailed) as both:
            kpis.kpis(session, jakarta, ctx.now(), month="2025-04",
                      date_from=dt.date(2025, 4, 1))
        with pytest.raises(ValidationFailed) as reversed_range:
            kpis.kpis(session, jakarta, ctx.now(), date_from=dt.date(2025, 4, 2),
                      date_to=dt.date(2025, 4, 1))
        with pytest.raises(ValidationFailed) as too_many:
            trends.trends(session, jakarta, ctx.now(), interval="day",
                          date_from=dt.date(2023, 1, 1), date_to=dt.date(2025, 1, 1))
    assert (both.value.errors[0]["field"], reversed_range.value.errors[0]["field"],
            too_many.value.errors[0]["field"]) == ("month", "from", "interval")


def test_a_cancelled_plan_leaves_total_due_as_it_was_before_the_plan(api):
    def due() -> str:
        figures = api.get("/v1/kpis?from=2025-01-01&to=2025-12-31").json
        return figures["collection_rate"]["due"]["decimal"]

    at(api.ctx, 2025, 1, 20, 10)  # the seed's bills fall due in February and March
    before = due()
    made = api.post("/v1/payment-plans", {
        "account_number": "WU-10001", "installments": 3, "frequency": "monthly",
        "first_due_on": "2025-02-01", "items": [
            {"kind": "bill", "reference": "INV-2025-001234"},
            {"kind": "bill", "reference": "INV-2025-001567"}]}, role="recovery_executive")
    assert made.status_code == 201, made.text
    reference = made.json["reference"]
    assert due() == before  # the installments stand in for the items
    paid = api.post(f"/v1/payment-plans/{reference}/payments", {
        "method": "cash", "amount_received": "100.00", "paid_on": "2025-01-20"},
        role="recovery_executive")
    assert paid.status_code == 201, paid.text
    cancelled = api.post(f"/v1/payment-plans/{reference}/cancel", {"reason": "asked"},
                         role="recovery_executive")
    assert cancelled.status_code == 200, cancelled.text
    # the items are owed again (credited with the 100.00); the installment that received
    # it is not owed on top of them
    assert due() == before
