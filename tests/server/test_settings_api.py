"""``/v1/settings``: what the tenant admin saves is refused, with the path of the field,
when it would only fail later (an address that is not one, a route to a processor that is
not installed)."""

from __future__ import annotations

from support.api import api, problem  # noqa: F401 - fixtures


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
