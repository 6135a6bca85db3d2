"""The gateway configuration page with several profiles of one gateway: each configuration
has its own card, whose forms change that configuration only."""

from __future__ import annotations

import re

from support.console import signed_in, text_of

from loket.demo import SANDBOX_CREDENTIALS


def configurations(api) -> dict[str, dict]:
    return {g["name"]: g for g in api.get("/v1/gateways", role="tenant_admin").json["items"]}


def card(page: str, name: str) -> str:
    """The HTML of configuration ``name``'s card."""
    found = re.search(rf'<section class="card" id="{re.escape(name)}".*?</section>', page,
                      re.S)
    assert found, f"no card {name!r}"
    return found.group(0)


def test_each_profile_has_its_own_card_and_its_forms_change_only_it(api):
    for name in ("sandbox", "sandbox:two"):
        assert api.put(f"/v1/gateways/{name}/active", {"active": True}).status_code == 200
    admin = signed_in(api, "tenant_admin")
    page = admin.get("/console/gateways").text
    second = card(page, "sandbox:two")
    assert 'action="/console/gateways/sandbox:two/active"' in second
    assert 'action="/console/gateways/sandbox:two/credentials"' in second
    assert 'data-testid="profile">two<' in second  # which profile the card is
    assert 'action="/console/gateways/sandbox/active"' in card(page, "sandbox")

    off = admin.post("/console/gateways/sandbox:two/active", {"active": "off"})
    assert off.headers["location"].endswith("#sandbox:two")
    assert "Gateway deactivated." in text_of(admin.follow(off).text)
    shown = configurations(api)
    assert shown["sandbox"]["active"] and not shown["sandbox:two"]["active"]

    saved = admin.post("/console/gateways/sandbox:two/credentials", SANDBOX_CREDENTIALS)
    assert saved.status_code == 303, text_of(saved.text)
    shown = configurations(api)
    assert shown["sandbox:two"]["configured"] and not shown["sandbox"]["configured"]

    refused = admin.post("/console/gateways/sandbox:two/credentials",
                         {"merchant_name": "Springfield", "secret": "wrong"})
    assert refused.status_code == 422
    assert 'class="notice bad"' in card(refused.text, "sandbox:two")  # its card says so
    assert 'class="notice bad"' not in card(refused.text, "sandbox")
    assert 'value="Springfield"' in card(refused.text, "sandbox:two")  # what was typed
