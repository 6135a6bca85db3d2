"""Deciding an approval at the console keeps to the API's limit on the note (2000
characters): a longer one is named on the page and the request stays pending. A credit note
that could never be issued is refused on the page instead of waiting, and a second unnamed
key of the maker's role is offered the decision."""

from __future__ import annotations

from support.console import Person, counter_payment, signed_in, text_of
from support.forms import field_message

from loket.core import audit, tenants


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
        assert field_message(refused.text, f"note-{approval_id}") == \
            "Too long: at most 2000 characters."
    assert api.get("/v1/approvals", role="tenant_admin").json["items"][0]["status"] == \
        "pending"
    assert api.get("/v1/credit-notes").json["total"] == 0


def test_a_credit_note_that_could_never_be_issued_is_refused_not_kept_for_approval(api):
    assert api.put("/v1/settings", {"approvals": {"credit_note_above": "1.00"}}
                   ).status_code == 200
    number = counter_payment(api)
    maker = signed_in(api, "billing_manager")
    maker.get(f"/console/payments/{number}")
    for form, field, named in (
            ({"amount": "20.00", "reason": "Bribe"}, "cn-reason", "Choose one of the offered"),
            ({"amount": "20.00", "reason": "Other", "remarks": "x" * 3000}, "cn-remarks",
             "Too long: at most 500 characters."),
            ({"amount": "5000.00", "reason": "Other"}, "cn-amount", "At most $145.50 is left.")):
        refused = maker.post(f"/console/payments/{number}/credit-notes", form)
        assert refused.status_code == 422, refused.headers.get("location")
        assert named in (field_message(refused.text, field) or ""), text_of(refused.text)
    assert api.get("/v1/approvals", role="tenant_admin").json["items"] == []


def test_another_unnamed_key_of_the_makers_role_may_decide(api):
    with api.ctx.transaction() as session:
        first, second = (tenants.create_api_key(session, audit.SYSTEM, api.tenant_id,
                                                "tenant_admin") for _ in range(2))
    assert api.put("/v1/settings", {"approvals": {"refund_above": "1.00"}}).status_code == 200
    number = counter_payment(api)
    asked = api.client.simulate_post(f"/v1/payments/{number}/refunds", json={
        "amount": "10.00"}, headers={"Authorization": f"Bearer {first}"})
    assert asked.status_code == 202, asked.text
    action = f'action="/console/approvals/{asked.json["approval"]["id"]}/approve"'
    for key, offered in ((first, False), (second, True)):
        person = Person(client=api.client)
        person.follow(person.sign_in(key))
        page = person.get("/console/approvals")
        assert (action in page.text) is offered
        assert ("You asked for this" in text_of(page.text)) is not offered


def test_the_decision_is_offered_only_to_the_tenants_approver_roles(api):
    assert api.put("/v1/settings", {"approvals": {"refund_above": "1.00"}}).status_code == 200
    number = counter_payment(api)
    asked = api.post(f"/v1/payments/{number}/refunds", {"amount": "10.00"}, role="cso_admin")
    assert asked.status_code == 202, asked.text
    action = f'action="/console/approvals/{asked.json["approval"]["id"]}/approve"'

    def offered(role: str) -> bool:
        page = signed_in(api, role).get("/console/approvals")
        assert page.status_code == 200 and number in page.text
        return action in page.text

    # by default tenant and CSO admins decide: a billing manager sees the request only
    assert (offered("tenant_admin"), offered("billing_manager")) == (True, False)
    assert api.put("/v1/settings", {"approvals": {
        "refund_above": "1.00", "approver_roles": ["billing_manager"]}}).status_code == 200
    assert (offered("tenant_admin"), offered("billing_manager")) == (False, True)
