"""The console's layout in a real browser: on a phone (390 px) the dashboard's and
reconciliation's tiles stay on the screen however long their figures, and the chart's day
labels stay readable; at 1280 px the header's "Sign out" stays on one line."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from support.browser import DESKTOP, PHONE, accessible, open_page, sign_in

pytestmark = pytest.mark.slow
WIDTHS = """() => ({page: document.documentElement.scrollWidth,
  tiles: [...document.querySelectorAll('.tile')].map(t => t.getBoundingClientRect().right)})"""
DAY_LABELS = """() => [...document.querySelectorAll(
  'figure.chart text, figure.chart .chart-days span')]
  .filter(e => e.textContent.trim()).map(e => e.getBoundingClientRect().height)"""


def paid_and_settled(api) -> None:
    """A payment through a link on the sandbox, paid and paid out (a long payout
    reference awaits the bank's confirmation)."""
    link = api.post("/v1/payment-links", {"account_number": "WU-10001", "items": [
        {"kind": "bill", "reference": "INV-2025-001234"}]}, role="billing_manager").json
    started = api.client.simulate_post(
        urlsplit(link["url"]).path, body="gateway=sandbox",
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    api.payer_acts(started.headers["location"])
    api.settle()


def test_on_a_phone_the_tiles_fit_and_the_chart_days_are_readable(chromium, live, shots):
    api, base = live
    api.connect_sandbox()
    paid_and_settled(api)
    context, page = open_page(chromium, PHONE)
    sign_in(page, base, api.keys["tenant_admin"])
    for path in ("/console/dashboard", "/console/reconciliation"):
        page.goto(base + path)
        widths = page.evaluate(WIDTHS)
        shots(page, path.rsplit("/", 1)[-1])
        assert widths["tiles"] and max(widths["tiles"]) <= PHONE["width"], (path, widths)
        assert widths["page"] <= PHONE["width"], (path, widths)
    page.goto(base + "/console/dashboard")
    heights = page.evaluate(DAY_LABELS)
    assert heights and min(heights) >= 11, heights
    accessible(page)
    context.close()


def test_at_1280_px_sign_out_is_on_one_line(chromium, live):
    api, base = live
    context, page = open_page(chromium, DESKTOP)
    sign_in(page, base, api.keys["tenant_admin"])
    page.goto(base + "/console/payments")
    button = page.get_by_role("button", name="Sign out")
    line = float(button.evaluate("b => parseFloat(getComputedStyle(b).lineHeight)"))
    assert button.bounding_box()["height"] < 1.5 * line
    context.close()
