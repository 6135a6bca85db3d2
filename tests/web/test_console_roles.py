"""The console shows each role what the API's role matrix lets it do, and refuses the rest."""

from __future__ import annotations

import re

import pytest
from support.console import Person

from loket.core.tenants import ROLES
from loket.server import roles
from loket.web.console.nav import SCREENS

NAV = re.compile(r'<nav aria-label="Console">.*?</ul>', re.S)


def nav_labels(html: str) -> list[str]:
    """The navigation entries of a page, in order."""
    block = NAV.search(html)
    return re.findall(r'<a href="[^"]+"[^>]*>([^<]+)</a>', block.group(0)) if block else []


def signed_in(api, role: str) -> Person:
    person = Person(client=api.client)
    credential = api.consumer_token if role == "consumer" else api.keys[role]
    person.follow(person.sign_in(credential))
    return person


@pytest.mark.parametrize("role", ROLES)
def test_each_screen_opens_exactly_for_the_roles_the_matrix_allows(api, role):
    person = signed_in(api, role)
    for screen in SCREENS:
        allowed = role in roles.allowed(*screen.operation)
        result = person.get(screen.path)
        assert result.status_code == (200 if allowed else 403), (role, screen.path)
    home = person.get("/console")
    assert home.status_code == 303
    shown = nav_labels(person.get(home.headers["location"]).text)
    assert shown == [s.label for s in SCREENS if role in roles.allowed(*s.operation)]


def test_the_navigation_follows_the_seeds_roles(api):
    # Stated independently of the matrix: what each person expects to find.
    assert nav_labels(signed_in(api, "consumer").page) == ["My bills", "My payments",
                                                           "My auto-pay"]
    admin = nav_labels(signed_in(api, "tenant_admin").page)
    assert "Gateways" in admin and "Record payment" in admin
    executive = nav_labels(signed_in(api, "cso_executive").page)
    assert "Gateways" not in executive and "Record payment" in executive
    assert "My bills" not in executive
    recovery = nav_labels(signed_in(api, "recovery_executive").page)
    assert "To-dos" in recovery and "Record payment" not in recovery


def test_a_refused_action_changes_nothing(api):
    person = signed_in(api, "cso_executive")
    person.get("/console/payments")
    result = person.post("/console/gateways/sandbox/active", {"active": "on"})
    assert result.status_code == 403
    gateways = api.get("/v1/gateways", role="tenant_admin").json["items"]
    assert not next(g for g in gateways if g["kind"] == "sandbox")["active"]


def test_buttons_a_role_may_not_use_are_not_shown(connected_api):
    api = connected_api
    person = signed_in(api, "tenant_admin")
    person.get("/console/payments/new", query_string="account=WU-10001")
    person.post("/console/payments/new", {"account_number": "WU-10001",
                                          "payment_type": "bill", "method": "cash",
                                          "amount_received": "145.50", "channel": "walk-in",
                                          "paid_on": "2025-01-15"})
    number = api.get("/v1/payments").json["items"][0]["number"]
    executive = signed_in(api, "customer_executive")
    page = executive.get(f"/console/payments/{number}").text
    assert "Issue a credit note" not in page  # MONEY_OUT only
    manager = signed_in(api, "billing_manager")
    assert "Issue a credit note" in manager.get(f"/console/payments/{number}").text
