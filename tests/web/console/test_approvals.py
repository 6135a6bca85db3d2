"""Deciding an approval at the console keeps to the API's limit on the note (2000
characters): a longer one is named on the page and the request stays pending."""

from __future__ import annotations

from support.console import signed_in, text_of


def test_a_decision_note_past_the_apis_limit_is_named_and_nothing_is_decided(api):
    assert api.put("/v1/settings", {"approvals": {"credit_note_above": "10.00"}}
                   ).status_code == 200
    made = api.post("/v1/payments/counter", {
        "account_number": "WU-10001", "payment_type": "bill", "method": "cash",
        "amount_received": "145.50", "references": ["INV-2025-001234"],
        "paid_on": "2025-01-15"})
    number = made.json["information"]["number"]
    asked = api.post(f"/v1/payments/{number}/credit-notes",
                     {"amount": "20.00", "reason": "Billing Error"}, role="cso_admin")
    assert asked.status_code == 202, asked.text
    approval_id = asked.json["approval"]["id"]
    checker = signed_in(api, "tenant_admin")
    checker.get("/console/approvals")
    for action in ("approve", "reject"):
        refused = checker.post(f"/console/approvals/{approval_id}/{action}",
                               {"note": "n" * 2001})
        assert refused.status_code == 422
        assert "note must be at most 2000 characters" in text_of(refused.text)
    assert api.get("/v1/approvals", role="tenant_admin").json["items"][0]["status"] == \
        "pending"
    assert api.get("/v1/credit-notes").json["total"] == 0
