"""Creating a payment link at the console keeps to the API's limit on the description (300
characters, the column's): a longer one is named on the page and no link is made."""

from __future__ import annotations

from support.console import Person, text_of


def test_a_description_past_the_apis_limit_is_named_and_no_link_is_made(api):
    clerk = Person(client=api.client)
    clerk.follow(clerk.sign_in(api.keys["cso_executive"]))
    clerk.get("/console/payment-links", query_string="account=WU-10001")
    refused = clerk.post("/console/payment-links", [
        ("account_number", "WU-10001"), ("item", "bill:INV-2025-001567"),
        ("amount_policy", "full"), ("description", "d" * 301), ("channel", "email")])
    assert refused.status_code == 422
    assert "description must be at most 300 characters" in text_of(refused.text)
    assert api.get("/v1/payment-links").json["total"] == 0
