"""A payment link in a real browser (headless Chromium via Playwright) with Stripe behind it
(the Stripe emulator on loopback): an amount below Stripe's minimum charge is said on the
link's form, the amount kept to correct; the corrected amount goes on to Stripe's page."""

from __future__ import annotations

import re

import pytest
from support import api as api_support
from support.browser import PHONE, Server, accessible, free_port, open_page
from support.db import BACKEND, build_ctx
from support.engine import seed
from support.stripe import connect_stripe_app, stripe_emu  # noqa: F401 - a fixture

from loket.server.app import create_app

pytestmark = pytest.mark.slow


@pytest.fixture
def stripe_live(tmp_path, plugins, request, stripe_emu):  # noqa: F811 - the fixture
    """loket over real HTTP, Stripe (the emulator) connected; yields ``(api, base_url)``."""
    port = free_port()
    ctx = build_ctx(tmp_path, plugins, BACKEND, request, base_url=f"http://127.0.0.1:{port}",
                    gateway_options={"stripe": {"api_base": stripe_emu.url,
                                                "max_network_retries": 0}})
    api = api_support.make_api(ctx, seed(ctx))
    connect_stripe_app(api, stripe_emu)
    with Server(create_app(ctx), port) as server:
        yield api, server.url
    ctx.engine.dispose()


def test_a_payer_below_the_gateways_minimum_is_told_on_the_links_form(chromium, stripe_live,
                                                                      shots):
    api, _base = stripe_live
    link = api.post("/v1/payment-links", {
        "account_number": "WU-10001", "amount_policy": "partial",
        "items": [{"kind": "bill", "reference": "INV-2025-001234"}]},
        role="billing_manager").json
    context, page = open_page(chromium, PHONE)
    page.goto(link["url"])
    page.get_by_text("at least $0.50").first.wait_for()  # the hint says Stripe's least
    amount = page.get_by_label(re.compile("Amount to pay"))
    amount.fill("0.30")
    page.get_by_role("button", name="Pay", exact=True).click()
    alert = page.locator("form.pay-form").get_by_role("alert")
    alert.wait_for()
    assert alert.inner_text() == "The amount must be at least $0.50 to pay with Stripe."
    assert page.get_by_label(re.compile("Amount to pay")).input_value() == "0.30"
    shots(page, "link-below-minimum")
    accessible(page)
    page.get_by_label(re.compile("Amount to pay")).fill("0.50")
    page.get_by_role("button", name="Pay", exact=True).click()
    page.wait_for_url(re.compile(r"/c/pay/"))  # Stripe's hosted page
    context.close()
