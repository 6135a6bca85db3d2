"""Creating a payment link at the console keeps to the API's limit on the description (300
characters, the column's): a longer one is named on the page and no link is made. Cancelling
one there expires the checkout a payer opened through it; money paid there after all counts."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from support.console import Person, counter_payment, signed_in
from support.forms import banner, field_message

from loket.core.models import Receivable
from loket.core.payments import timeouts


def test_a_description_past_the_apis_limit_is_named_and_no_link_is_made(api):
    clerk = Person(client=api.client)
    clerk.follow(clerk.sign_in(api.keys["cso_executive"]))
    clerk.get("/console/payment-links", query_string="account=WU-10001")
    refused = clerk.post("/console/payment-links", [
        ("account_number", "WU-10001"), ("item", "bill:INV-2025-001567"),
        ("amount_policy", "full"), ("description", "d" * 301), ("channel", "email")])
    assert refused.status_code == 422
    assert field_message(refused.text, "description") == "Too long: at most 300 characters."
    assert api.get("/v1/payment-links").json["total"] == 0


def test_a_link_cancelled_at_the_console_expires_its_checkout_and_late_money_is_credited(
        connected_api):
    api = connected_api
    link = api.post("/v1/payment-links", {"account_number": "WU-10001", "items": [
        {"kind": "bill", "reference": "INV-2025-001234"},
        {"kind": "bill", "reference": "INV-2025-001567"}]}, role="billing_manager").json
    started = api.client.simulate_post(urlsplit(link["url"]).path, body="gateway=sandbox",
                                       headers={"Content-Type":
                                                "application/x-www-form-urlencoded"})
    assert started.status_code == 303
    clerk = signed_in(api, "cso_admin")
    clerk.get("/console/payment-links")
    clerk.follow(clerk.post(f"/console/payment-links/{link['id']}/cancel", {}))
    assert api.get(f"/v1/payment-links/{link['id']}").json["status"] == "cancelled"
    counter_payment(api)  # January's bill is paid at the counter meanwhile
    assert timeouts.payment_timeout_sweep(api.ctx) == {"failed": 1}

    # The payer pays on the gateway's page, still open: the money is not lost. February's
    # bill takes its share; January's, paid already, becomes credit.
    api.payer_acts(started.headers["location"])
    (payment,) = api.get("/v1/payments?account=WU-10001&channel=online").json["items"]
    assert payment["status"] == "succeeded"
    with api.ctx.transaction() as session:
        paid = dict(session.execute(select(Receivable.reference, Receivable.paid).where(
            Receivable.reference.like("INV-2025-%"))).all())
    assert paid == {"INV-2025-001234": 14550, "INV-2025-001567": 15225}
    (note,) = api.get("/v1/credit-notes").json["items"]
    assert note["amount"]["decimal"] == "145.50"


def test_a_refused_link_keeps_what_was_typed_and_says_why_in_indonesian(api):
    assert api.put("/v1/settings", {"locale": "id_ID"}).status_code == 200
    clerk = signed_in(api, "tenant_admin")
    clerk.get("/console/payment-links", query_string="account=WU-10001")
    refused = clerk.post("/console/payment-links", [
        ("account_number", "WU-10001"), ("item", "bill:INV-2025-001567"),
        ("amount_policy", "partial"), ("minimum", "abc"), ("multi_use", "1"),
        ("description", "March water"), ("channel", "email")])
    assert refused.status_code == 422
    assert banner(refused.text) == "Perbaiki isian yang ditandai."
    assert field_message(refused.text, "minimum") == \
        "Minimum: ini bukan jumlah uang. Tulis seperti 1.500,00 atau 1500."
    assert "decimal number" not in refused.text
    page = refused.text
    assert re.search(r'name="multi_use" value="1" checked', page)
    assert re.search(r'value="bill:INV-2025-001567" checked', page)
    assert re.search(r'name="channel" value="email" checked', page)
    assert 'value="partial" selected' in page and 'value="March water"' in page
    assert api.get("/v1/payment-links").json["total"] == 0


def test_the_channels_are_offered_by_their_names(api):
    clerk = signed_in(api, "tenant_admin")
    page = clerk.get("/console/payment-links", query_string="account=WU-10001").text
    offered = dict(re.findall(r'name="channel" value="([^"]+)"> ([^<]+)</label>', page))
    names = {"email": "E-mail", "sms": "SMS", "whatsapp": "WhatsApp",
             "log": "Server log (for testing)"}
    assert "email" in offered and "sms" in offered
    assert {c: offered[c] for c in offered if c in names} == \
        {c: names[c] for c in offered if c in names}


@pytest.mark.parametrize(("locale", "typed"), [("id_ID", "10,50"), ("id_ID", "US$10,50"),
                                               ("id_ID", "10.50"), ("en_US", "10.50")])
def test_a_links_minimum_is_read_as_the_console_writes_it(api, locale, typed):
    assert api.put("/v1/settings", {"locale": locale}).status_code == 200
    clerk = signed_in(api, "tenant_admin")
    page = clerk.get("/console/payment-links", query_string="account=WU-10001")
    assert re.search(r'id="minimum"[^>]*placeholder="(mis\. 1\.500,00|e\.g\. 1,500\.00)"',
                     page.text)
    made = clerk.post("/console/payment-links", [
        ("account_number", "WU-10001"), ("item", "bill:INV-2025-001567"),
        ("amount_policy", "partial"), ("minimum", typed), ("description", "March")])
    assert made.status_code == 303, banner(made.text)
    (link,) = api.get("/v1/payment-links").json["items"]
    assert link["minimum"]["amount"] == 1050
