"""An amount below the gateway's minimum charge (Stripe: $0.50) is refused before anything is
recorded or Stripe is asked: a 422 naming the field, saying the minimum, on every way a payer
starts a checkout (the consumer API, a payment link's page, the guest's page), in the
payer's language on the pages. Stripe is the Stripe emulator, reached over HTTP."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select
from support.api import make_api, problem
from support.console import Person, text_of
from support.db import BACKEND, build_ctx
from support.engine import ACTOR, seed
from support.stripe import connect_stripe_app, stripe_emu  # noqa: F401 - a fixture

from loket.core.host import receivables
from loket.core.models import Payment

BILLS = [{"kind": "bill", "reference": "INV-2025-001234"},
         {"kind": "bill", "reference": "INV-2025-001567"}]
SMALL = {"kind": "bill", "reference": "INV-SMALL-1"}  # $0.40, below Stripe's $0.50


@pytest.fixture
def stripe_api(tmp_path, plugins, request, stripe_emu):  # noqa: F811 - the fixture
    """The demo tenant (and a $0.40 bill) with Stripe connected through the emulator."""
    ctx = build_ctx(tmp_path, plugins, BACKEND, request, gateway_options={
        "stripe": {"api_base": stripe_emu.url, "max_network_retries": 0}})
    tenant_id = seed(ctx)
    with ctx.transaction() as session:
        receivables.upsert_receivable(session, ACTOR, tenant_id, {
            "account_number": "WU-10001", "kind": "bill", "reference": SMALL["reference"],
            "amount": "0.40", "description": "Water bill", "due_date": "2025-04-15"})
    api = make_api(ctx, tenant_id)
    connect_stripe_app(api, stripe_emu)
    yield api
    ctx.engine.dispose()


def _nothing_started(api, emulator) -> None:
    """No payment besides the connection test's, and no Checkout Session at Stripe."""
    with api.ctx.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Payment).where(
            Payment.is_test.is_(False))) == 0
    assert len(emulator.sessions()) == 1  # the connection test's


def test_a_part_payment_below_the_minimum_is_refused_naming_the_amount(stripe_api, stripe_emu):  # noqa: F811
    api = stripe_api
    settings = api.get("/v1/settings", role="tenant_admin").json
    settings["part_payments"] = {"allowed": True}
    assert api.put("/v1/settings", settings).status_code == 200
    refused = api.post("/v1/me/checkout", {"gateway": "stripe", "items": BILLS,
                                           "amount": "0.30"}, role="consumer")
    assert refused.status_code == 422, refused.text
    assert problem(refused)["errors"] == [{
        "field": "amount", "message": "the amount must be at least $0.50 to pay with Stripe"}]
    _nothing_started(api, stripe_emu)
    paid = api.post("/v1/me/checkout", {"gateway": "stripe", "items": BILLS,
                                        "amount": "0.50"}, role="consumer")
    assert paid.status_code == 201, paid.text  # the minimum itself is taken


def test_items_that_come_to_less_than_the_minimum_are_refused_naming_them(stripe_api,
                                                                         stripe_emu):  # noqa: F811
    api = stripe_api
    refused = api.post("/v1/me/checkout", {"gateway": "stripe", "items": [SMALL]},
                       role="consumer")
    assert refused.status_code == 422, refused.text
    (error,) = problem(refused)["errors"]
    assert error["field"] == "items" and "at least $0.50" in error["message"]
    _nothing_started(api, stripe_emu)


def _pay_link(api, url: str, amount: str):
    return api.client.simulate_post(urlsplit(url).path, body=f"gateway=stripe&amount={amount}",
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})


def test_a_payment_link_says_the_minimum_on_its_form(stripe_api, stripe_emu):  # noqa: F811
    api = stripe_api
    link = api.post("/v1/payment-links", {"account_number": "WU-10001", "items": BILLS,
                                          "amount_policy": "partial", "multi_use": True},
                    role="billing_manager").json
    page = api.client.simulate_get(urlsplit(link["url"]).path)
    assert "You may pay part now; at least $0.50." in text_of(page.text)
    refused = _pay_link(api, link["url"], "0.30")
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("text/html")
    form = re.search(r'<form method="post".*?</form>', refused.text, re.S).group(0)
    assert ('role="alert" id="pay-error">The amount must be at least $0.50 to pay with '
            'Stripe.</p>') in form
    assert 'value="0.30"' in form  # what the payer typed, kept to correct
    _nothing_started(api, stripe_emu)

    assert api.put("/v1/settings", {"locale": "id_ID"}).status_code == 200
    refused = _pay_link(api, link["url"], "0.30")
    assert refused.status_code == 422
    assert ("Jumlah yang dibayar minimal US$0,50 untuk membayar dengan Stripe."
            in text_of(refused.text))
    assert _pay_link(api, link["url"], "0.50").status_code == 303


def test_a_guest_is_told_the_minimum_in_their_language(stripe_api, stripe_emu):  # noqa: F811
    api = stripe_api
    assert api.put("/v1/settings", {"guest": {"enabled": True}}).status_code == 200
    guest = Person(client=api.client, accept_language="id")
    guest.get("/guest/t1")
    guest.follow(guest.post("/guest/t1", {"account_number": "WU-10001", "name": "John Doe",
                                          "last_bill_amount": "0.40"}))
    refused = guest.post("/guest/t1/bills", [
        ("item", f"bill:{SMALL['reference']}"), ("payer_name", "Neighbour Ned"),
        ("payer_email", "ned@example.com"), ("gateway", "stripe")])
    assert refused.status_code == 422
    assert ("Stripe menerima pembayaran minimal US$0,50; pilih cara pembayaran lain."
            in text_of(refused.text))
    _nothing_started(api, stripe_emu)
