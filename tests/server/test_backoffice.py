"""The back office over HTTP: KPIs of a selected period, trends, and who created a payment."""

from __future__ import annotations

from support.api import api, connected_api, fields  # noqa: F401 - fixtures


def test_kpis_and_trends_of_the_current_month_over_http(api):
    paid = api.post("/v1/payments/counter", {
        "account_number": "CRN29391", "payment_type": "bill", "method": "cash",
        "paid_on": api.ctx.now().date().isoformat(), "amount_received": "100.00"})
    assert paid.status_code == 201, paid.text
    kpis = api.get("/v1/kpis", role="recovery_executive")
    assert kpis.status_code == 200, kpis.text
    k = kpis.json
    assert k["total_collected"]["amount"]["decimal"] == "100.00"
    assert (k["received_today"]["amount"]["decimal"], k["received_today"]["count"]) == (
        "100.00", 1)
    month = k["period"]["from"][:7]
    assert api.get(f"/v1/kpis?month={month}").json["total_collected"] == k["total_collected"]
    trend = api.get(f"/v1/kpis/trends?interval=week&by=method&month={month}").json
    assert trend["total"] == k["total_collected"]["amount"]
    assert [s["key"] for s in trend["series"]] == ["cash"]


def test_kpi_periods_are_validated_naming_the_parameter(api):
    assert fields(api.get("/v1/kpis?month=2025-13")) == {"month"}
    assert fields(api.get("/v1/kpis?month=2025-04&from=2025-04-01")) == {"month"}
    assert fields(api.get("/v1/kpis/trends?interval=hour")) == {"interval"}
    assert fields(api.get("/v1/kpis?from=2025-05-01&to=2025-04-01")) == {"from"}


def test_an_online_payment_is_created_by_the_payer(connected_api):
    started = connected_api.post("/v1/me/checkout", {"gateway": "sandbox", "items": [
        {"kind": "bill", "reference": "INV-2025-001234"}]}, role="consumer")
    assert started.status_code == 201, started.text
    number = started.json["payment"]["number"]
    detail = connected_api.get(f"/v1/payments/{number}").json
    assert detail["processing"]["created_by"] == "John Doe"
    trail = connected_api.get(f"/v1/audit/payment/{number}", role="tenant_admin").json
    assert trail["items"][0]["actor"] == "WU-10001"  # the trail still names the caller
