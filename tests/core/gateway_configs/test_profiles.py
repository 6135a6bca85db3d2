"""Gateway profiles over HTTP: one tenant with two Stripe accounts (water on the default
profile, electricity on ``stripe:electricity``), each configured, connected and reconciled
on its own; the routing table sends each destination's payments to its account, consumers
see Stripe once, and each account's payout settles only its own payments."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from support.e2e import start_loket
from support.engine import seed
from support.stripe import pay_on_hosted_page, session_events

from loket.core.settings import DEFAULTS
from loket_stripe.testing.emulator import StripeEmulator

ADMIN = "tenant_admin"
PAYER = "WU-10001"
BILL, SERVICE = "INV-2025-001234", "SRV-RECON-0001"  # 145.50 and 75.00 USD


@pytest.fixture
def accounts():
    """Two Stripe accounts of one utility."""
    with StripeEmulator(account_name="Kota Water") as water, \
            StripeEmulator(account_name="Kota Electricity") as power:
        yield water, power


@pytest.fixture
def live(tmp_path, plugins, request, accounts):
    water, power = accounts
    loket = start_loket(tmp_path, plugins, request, {
        "stripe": {"api_base": water.url, "max_network_retries": 0},
        "stripe:electricity": {"api_base": power.url}})
    tenant_id = seed(loket.ctx)
    loket.authorize(tenant_id, roles=(ADMIN, "cso_admin"), accounts=[PAYER])
    yield loket
    loket.stop()


def connect(live, emulator: StripeEmulator, name: str) -> str:
    """Configure and connect one profile through its own test payment; returns its webhook
    URL."""
    assert live.put(f"/v1/gateways/{name}/active", {"active": True}, ADMIN).status_code == 200
    saved = live.put(f"/v1/gateways/{name}/credentials",
                     {"credentials": emulator.credentials()}, ADMIN)
    assert saved.status_code == 200, saved.text
    assert saved.json()["name"] == name
    started = live.post(f"/v1/gateways/{name}/connect", as_=ADMIN)
    assert started.status_code == 201, started.text
    assert started.json()["redirect_url"].startswith(emulator.url)
    session_id = started.json()["redirect_url"].rsplit("/", 1)[-1]
    pay_on_hosted_page(live, started.json()["redirect_url"])
    [completed] = session_events(emulator, "checkout.session.completed", session_id)
    assert emulator.deliver(completed, saved.json()["webhook_url"])[0].status_code == 200
    assert live.get(f"/v1/gateways/{name}", as_=ADMIN).json()["connected"] is True
    return saved.json()["webhook_url"]


def pay(live, emulator: StripeEmulator, webhook: str, kind: str, reference: str) -> str:
    started = live.post("/v1/me/checkout", {"gateway": "stripe", "items": [
        {"kind": kind, "reference": reference}]}, PAYER)
    assert started.status_code == 201, started.text
    assert started.json()["redirect_url"].startswith(emulator.url)
    session_id = started.json()["redirect_url"].rsplit("/", 1)[-1]
    pay_on_hosted_page(live, started.json()["redirect_url"])
    [completed] = session_events(emulator, "checkout.session.completed", session_id)
    assert emulator.deliver(completed, webhook)[0].status_code == 200
    return started.json()["payment"]["number"]


def test_two_stripe_profiles_collect_settle_and_reconcile_separately(live, accounts):
    water, power = accounts
    water_hook = connect(live, water, "stripe")
    power_hook = connect(live, power, "stripe:electricity")
    assert water_hook != power_hook
    names = [g["name"] for g in live.get("/v1/gateways", as_=ADMIN).json()["items"]
             if g["kind"] == "stripe"]
    assert names == ["stripe", "stripe:electricity"]

    destinations = copy.deepcopy(DEFAULTS["destinations"])
    destinations["pay-a-service"]["gateway_profiles"] = {"stripe": "electricity"}
    saved = live.put("/v1/settings", {"destinations": destinations}, ADMIN)
    assert saved.status_code == 200, saved.text
    assert [g["kind"] for g in live.get("/v1/me/gateways", as_=PAYER).json()["items"]] \
        == ["stripe"]  # shown once to consumers

    mixed = live.post("/v1/me/checkout", {"gateway": "stripe", "items": [
        {"kind": "bill", "reference": BILL}, {"kind": "service", "reference": SERVICE}]},
        PAYER)
    assert mixed.status_code == 422 and "separate payments" in mixed.text

    bill_payment = pay(live, water, water_hook, "bill", BILL)
    service_payment = pay(live, power, power_hook, "service", SERVICE)

    water_payout = water.payout()[-1]["data"]["object"]["id"]
    power_payout = power.payout()[-1]["data"]["object"]["id"]
    today = dt.datetime.now(dt.UTC).date()
    window = {"from": (today - dt.timedelta(days=1)).isoformat(),
              "to": (today + dt.timedelta(days=3)).isoformat()}
    water_result = live.post("/v1/reconciliation/fetch", {"gateway": "stripe", **window},
                             ADMIN)
    assert water_result.status_code == 200, water_result.text
    power_result = live.post("/v1/reconciliation/fetch",
                             {"gateway": "stripe:electricity", **window}, ADMIN)
    assert power_result.status_code == 200, power_result.text
    assert water_result.json()["unmatched"] == [] and power_result.json()["unmatched"] == []

    bill = live.get(f"/v1/payments/{bill_payment}", as_=ADMIN).json()
    service = live.get(f"/v1/payments/{service_payment}", as_=ADMIN).json()
    assert bill["information"]["status"] == service["information"]["status"] == "completed"
    assert bill["transaction"]["payout_reference"] == water_payout
    assert service["transaction"]["payout_reference"] == power_payout
    assert {r["reference"] for r in bill["destination_details"]} == {BILL}
    assert {r["reference"] for r in service["destination_details"]} == {SERVICE}
    # Each account's fetch saw only its own payments: fetching again matches nothing new.
    again = live.post("/v1/reconciliation/fetch", {"gateway": "stripe:electricity", **window},
                      ADMIN).json()
    assert again["matched"] == 0 and again["already_settled"] >= 1
