"""Stripe through loket's HTTP API and the Stripe emulator: what several tests do the same way."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from loket_stripe.testing.emulator import StripeEmulator
from support.e2e import start_loket
from support.engine import seed

BILLS = ["INV-2025-001234", "INV-2025-001567"]  # 145.50 + 152.25 USD


@pytest.fixture
def stripe_emu():
    """A fresh Stripe emulator on a loopback port."""
    with StripeEmulator() as emulator:
        yield emulator


@pytest.fixture
def live(tmp_path, plugins, request, stripe_emu):
    """loket served over HTTP, its Stripe pointed at the emulator, the demo tenant seeded."""
    loket = start_loket(tmp_path, plugins, request, {
        "stripe": {"api_base": stripe_emu.url, "max_network_retries": 0}})
    tenant_id = seed(loket.ctx)
    loket.authorize(tenant_id, accounts=["WU-10001"])
    yield loket
    loket.stop()


def session_events(emulator, kind: str, session_id: str) -> list[dict]:
    """The emulator's events of ``kind`` about one Checkout Session (or its PaymentIntent)."""
    intent = emulator.session(session_id)["payment_intent"]
    return [e for e in emulator.events_of(kind)
            if e["data"]["object"]["id"] in (session_id, intent)]


def pay_on_hosted_page(live, redirect_url: str) -> str:
    """The payer's browser presses Pay on Stripe's page; returns where Stripe sends it."""
    page = live.http.get(redirect_url, timeout=10)
    assert page.status_code == 200 and "Pay" in page.text
    done = live.http.post(redirect_url, data={"outcome": "pay"}, allow_redirects=False,
                          timeout=10)
    assert done.status_code == 303, done.text
    return done.headers["Location"]


def connect_stripe(live, emulator) -> dict:
    """The tenant admin configures and connects Stripe over the API; returns the gateway."""
    admin = "tenant_admin"
    assert live.put("/v1/gateways/stripe/active", {"active": True}, admin).status_code == 200

    refused = live.put("/v1/gateways/stripe/credentials", {"credentials": {
        **emulator.credentials(), "secret_key": "sk_test_51UnknownKey0000000000000"}}, admin)
    assert refused.status_code in (400, 422), refused.text
    assert "Please review all the details entered above" in refused.text

    saved = live.put("/v1/gateways/stripe/credentials",
                     {"credentials": emulator.credentials()}, admin)
    assert saved.status_code == 200, saved.text
    masked = saved.json()["credentials"]
    assert emulator.secret_key not in saved.text and emulator.webhook_secret not in saved.text
    assert masked["secret_key"] and masked["secret_key"] != emulator.secret_key
    assert saved.json()["configured"] and not saved.json()["connected"]
    assert ("GET", "/v1/balance") in emulator.requests_seen  # checked live with Stripe
    webhook_url = saved.json()["webhook_url"]
    assert webhook_url.startswith(live.url + "/v1/webhooks/stripe/")

    started = live.post("/v1/gateways/stripe/connect", as_=admin)
    assert started.status_code == 201, started.text
    assert started.json()["amount"]["decimal"] == "1.00"  # above Stripe's 0.50 USD minimum
    session_id = started.json()["redirect_url"].rsplit("/", 1)[-1]
    assert started.json()["redirect_url"] == f"{emulator.url}/c/pay/{session_id}"

    back = pay_on_hosted_page(live, started.json()["redirect_url"])
    [completed] = session_events(emulator, "checkout.session.completed", session_id)
    assert [r.status_code for r in emulator.deliver(completed, webhook_url)] == [200]
    assert live.get(back.replace(live.url, "")).json()["status"] == "refunded"

    gateway = live.get("/v1/gateways/stripe", as_=admin).json()
    assert (gateway["active"], gateway["configured"], gateway["connected"]) == (True, True, True)
    test = live.get("/v1/gateways/stripe/test", as_=admin).json()
    assert test["test_payment"]["status"] == "refunded"
    assert test["test_payment"]["refunded"]["decimal"] == "1.00"
    assert test["response"]["charge"]["id"] == session_id
    assert test["response"]["refund"]["status"] == "succeeded"
    refund = emulator.objects[test["response"]["refund"]["reference"]]
    assert emulator.objects[refund["charge"]]["refunded"] is True  # the money went back
    return gateway


def connect_stripe_app(api, emulator) -> None:
    """Activate, configure and connect Stripe through the API test app (support.api's
    ``Api``), the connection test's webhook handed to the app as Stripe signs it."""
    assert api.put("/v1/gateways/stripe/active", {"active": True}).status_code == 200
    saved = api.put("/v1/gateways/stripe/credentials", {"credentials": emulator.credentials()})
    assert saved.status_code == 200, saved.text
    started = api.post("/v1/gateways/stripe/connect", role="tenant_admin")
    assert started.status_code == 201, started.text
    *_, completed = emulator.pay(started.json["redirect_url"].rsplit("/", 1)[-1])
    body, headers = emulator.signed(completed)
    assert api.client.simulate_post(urlsplit(saved.json["webhook_url"]).path, body=body,
                                    headers=headers).status_code == 200
    assert api.get("/v1/gateways/stripe", role="tenant_admin").json["connected"]
