"""``/v1/settings``: what the tenant admin saves is refused, with the path of the field,
when it would only fail later (an address that is not one, a route to a processor that is
not installed, a threshold with more decimals than the currency has)."""

from __future__ import annotations

from support.api import api, make_api, problem  # noqa: F401 - fixtures
from support.engine import seed_yen


def test_a_route_to_a_processor_not_installed_is_refused_naming_it(api):
    routes = api.get("/v1/settings", role="tenant_admin").json["destinations"]
    wrong = {**routes, "pay-a-bill": {**routes["pay-a-bill"], "processor": "bil"}}
    refused = api.put("/v1/settings", {"destinations": wrong})
    assert refused.status_code == 422
    errors = problem(refused)["errors"]
    assert [e["field"] for e in errors] == ["$.destinations['pay-a-bill'].processor"]
    assert "processor 'bil' is not installed" in errors[0]["message"]
    now = api.get("/v1/settings", role="tenant_admin").json["destinations"]
    assert now["pay-a-bill"]["processor"] == "bill"
    added = {**routes, "pay-a-meter-bill": {"processor": "bill"}}
    assert api.put("/v1/settings", {"destinations": added}).status_code == 200


def test_a_notification_address_that_is_not_one_is_refused_naming_it(api):
    refused = api.put("/v1/settings", {"notifications": {"tenant_admins": ["ops at water"]}})
    assert refused.status_code == 422
    assert [e["field"] for e in problem(refused)["errors"]] == [
        "$.notifications.tenant_admins[0]"]
    saved = api.put("/v1/settings", {"notifications": {"tenant_admins": ["ops@water.example"]}})
    assert saved.status_code == 200
    assert saved.json["notifications"]["tenant_admins"] == ["ops@water.example"]


def test_a_jpy_tenants_thresholds_are_refused_with_decimals_and_work_without(ctx):
    tenant_id = seed_yen(ctx, "INV-9")
    api = make_api(ctx, tenant_id)
    refused = api.put("/v1/settings", {"approvals": {"refund_above": "500.00",
                                                     "credit_note_above": "500.00"}})
    assert refused.status_code == 422
    assert [e["field"] for e in problem(refused)["errors"]] == [
        "$.approvals.refund_above", "$.approvals.credit_note_above"]
    saved = api.put("/v1/settings", {"approvals": {"refund_above": "500",
                                                   "credit_note_above": "500"}})
    assert saved.status_code == 200, saved.text
    paid = api.post("/v1/payments/counter", {
        "account_number": "WU-10001", "payment_type": "bill", "method": "cash",
        "paid_on": "2025-01-15", "amount_received": "1500", "references": ["INV-9"]})
    assert paid.status_code == 201, paid.text
    number = paid.json["information"]["number"]
    small = api.post(f"/v1/payments/{number}/refunds", {"amount": "10"},
                     role="billing_manager")
    assert small.status_code == 201, small.text
    large = api.post(f"/v1/payments/{number}/refunds", {"amount": "501"},
                     role="billing_manager")
    assert large.status_code == 202, large.text  # above the threshold: waits for approval
