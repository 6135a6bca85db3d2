"""The console and the payer pages in a real browser (headless Chromium via Playwright), each
screen's main flow as a person does it, at phone and desktop widths, with an axe-core
accessibility check of every screen visited. Screenshots land in var/screenshots/."""

from __future__ import annotations

import re

import pytest
from support.browser import DESKTOP, PHONE, accessible, open_page, sign_in

from loket.demo import SANDBOX_CREDENTIALS

pytestmark = pytest.mark.slow


def test_tenant_admin_connects_the_sandbox(chromium, live, shots):
    api, base = live
    context, page = open_page(chromium, DESKTOP)
    sign_in(page, base, api.keys["tenant_admin"])
    page.get_by_role("link", name="Gateways").click()
    card = page.locator("section#sandbox")
    card.get_by_role("button", name="Activate").click()
    page.get_by_text("Gateway activated.").wait_for()
    card.get_by_label("Merchant name").fill(SANDBOX_CREDENTIALS["merchant_name"])
    card.get_by_label("Signing secret").fill("not-a-secret")
    card.get_by_role("button", name="Save credentials").click()
    page.get_by_text("sbx_ followed by 16-64 letters or digits").first.wait_for()
    shots(page, "credentials-refused")
    card.get_by_label("Signing secret").fill(SANDBOX_CREDENTIALS["secret"])
    card.get_by_role("button", name="Save credentials").click()
    page.get_by_text("Credentials saved and checked with the gateway.").wait_for()
    accessible(page)
    card.get_by_role("button", name="Connect").click()
    with context.expect_page() as opened:
        card.get_by_role("link", name="Open the test payment").click()
    gateway = opened.value
    gateway.wait_for_load_state()
    shots(gateway, "sandbox-page")
    gateway.get_by_role("button", name="Pay", exact=True).click()
    gateway.get_by_role("heading", name="Payment successful").wait_for()
    shots(gateway, "test-payment-returned")
    page.reload()
    card.get_by_text("Connected", exact=True).wait_for()
    assert "/v1/webhooks/sandbox/" in card.get_by_label("Webhook URL").input_value()
    shots(page, "gateways-connected")
    accessible(page)
    context.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_cashier_records_a_cash_payment_with_change(chromium, live, shots, viewport):
    api, base = live
    context, page = open_page(chromium, viewport)
    sign_in(page, base, api.keys["cso_executive"])
    page.goto(base + "/console/payments/new")
    page.get_by_label("Find the consumer").fill("john")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Choose").first.click()
    assert page.get_by_label("Channel").input_value() == "walk-in"
    page.get_by_label("Payment type").select_option("bill")
    page.get_by_label(re.compile("INV-2025-001234")).check()
    page.get_by_label("Payment method").select_option("cash")
    page.get_by_label("Amount received (USD)").fill("150.00")
    page.get_by_label("Change given (USD)").fill("4.50")
    page.get_by_label("Notes").fill("paid at the counter")
    accessible(page)
    shots(page, "record-form")
    page.get_by_role("button", name="Record payment").click()
    page.get_by_role("heading", name="Payment recorded").wait_for()
    assert page.get_by_test_id("change").inner_text() == "$4.50"
    assert page.get_by_test_id("applied").inner_text() == "$145.50"
    shots(page, "recorded")
    accessible(page)
    page.get_by_role("link", name="View details").click()
    page.get_by_role("heading", name="Cash details").wait_for()
    shots(page, "payment-details")
    accessible(page)
    assert api.get("/v1/payments").json["items"][0]["change_given"]["decimal"] == "4.50"
    context.close()


def test_an_indonesian_cashier_types_the_amounts_as_the_console_writes_them(chromium, live,
                                                                            shots):
    api, base = live
    assert api.put("/v1/settings", {"locale": "id_ID"}).status_code == 200
    context, page = open_page(chromium, PHONE)  # the console speaks the tenant's language
    sign_in(page, base, api.keys["cso_executive"])
    page.goto(base + "/console/payments/new?account=WU-10001")
    page.get_by_label("Jenis pembayaran").select_option("bill")
    page.get_by_label(re.compile("INV-2025-001234")).check()
    page.get_by_label("Metode pembayaran").select_option("cash")
    received = page.get_by_label("Jumlah diterima (USD)")
    assert received.get_attribute("placeholder") == "mis. 1.500,00"
    received.fill("150.00,0")
    page.get_by_role("button", name="Catat pembayaran").click()
    page.locator("#err-amount_received").wait_for()
    assert page.locator("#err-amount_received").inner_text() == (
        "Jumlah diterima: ini bukan jumlah uang. Tulis seperti 1.500,00 atau 1500.")
    shots(page, "record-amount-unreadable")
    accessible(page)
    page.get_by_label("Jumlah diterima (USD)").fill("150,00")
    page.get_by_label("Kembalian (USD)").fill("4,50")
    page.get_by_role("button", name="Catat pembayaran").click()
    page.get_by_role("heading", name="Pembayaran dicatat").wait_for()
    assert page.get_by_test_id("change").inner_text().replace("\xa0", " ") == "US$4,50"
    assert page.get_by_test_id("applied").inner_text().replace("\xa0", " ") == "US$145,50"
    shots(page, "recorded-in-indonesian")
    context.close()


def test_billing_manager_sees_the_dashboard_finds_a_payment_and_credits_it(chromium, live,
                                                                           shots):
    api, base = live
    api.post("/v1/payments/counter", {"account_number": "WU-10001", "payment_type": "bill",
                                      "method": "cash", "amount_received": "145.50",
                                      "references": ["INV-2025-001234"],
                                      "paid_on": "2025-01-15"})
    context, page = open_page(chromium, DESKTOP)
    sign_in(page, base, api.keys["billing_manager"])
    page.get_by_test_id("collected-today").wait_for()
    assert page.get_by_test_id("collected-today").inner_text() == "$145.50"
    shots(page, "dashboard")
    accessible(page)
    page.get_by_role("link", name="Payments", exact=True).click()
    page.get_by_label("Search").fill("doe")
    page.get_by_label("Method").select_option("cash")
    page.get_by_role("button", name="Search").click()
    page.get_by_text("1 payment").wait_for()
    shots(page, "payments-list")
    accessible(page)
    page.get_by_role("link", name=re.compile(r"^R-")).click()
    page.get_by_text("Issue a credit note").click()
    page.get_by_label("Amount", exact=True).fill("20.00")
    page.get_by_label("Reason").select_option("Billing Error")
    page.get_by_role("button", name="Issue credit note").click()
    page.get_by_text("Credit note issued.").wait_for()
    page.get_by_role("link", name=re.compile(r"^CN-")).click()
    page.get_by_label("Open item").select_option(value="service:SRV-LATE-0001")
    page.get_by_label(re.compile("^Amount")).fill("5.00")
    page.get_by_role("button", name="Apply credit").click()
    page.get_by_text("Credit applied.").wait_for()
    assert page.get_by_test_id("remaining").inner_text() == "$15.00"
    shots(page, "credit-note")
    accessible(page)
    page.get_by_role("link", name="To-dos").click()
    accessible(page)
    context.close()


def test_consumer_pays_two_bills_on_a_phone(chromium, live, shots):
    api, base = live
    api.connect_sandbox()
    context, page = open_page(chromium, PHONE)
    sign_in(page, base, api.consumer_token)
    page.get_by_role("heading", name="My bills and services").wait_for()
    shots(page, "bills")
    accessible(page)
    page.get_by_label(re.compile("INV-2025-001234")).check()
    page.get_by_label(re.compile("INV-2025-001567")).check()
    page.get_by_role("button", name="Pay selected").click()
    page.get_by_role("heading", name="Sandbox checkout").wait_for()
    page.get_by_role("button", name="Pay", exact=True).click()
    page.get_by_role("heading", name="Payment successful").wait_for()
    assert page.get_by_test_id("total").inner_text() == "$297.75"
    shots(page, "returned")
    accessible(page)
    page.goto(base + "/console/my-payments")
    page.get_by_role("link", name=re.compile("^PAY-")).first.click()
    page.get_by_text("Payment Successful").first.wait_for()
    shots(page, "my-payment")
    context.close()


def test_the_payer_page_in_indonesian_on_a_phone(chromium, live, shots):
    api, base = live
    api.connect_sandbox()
    started = api.post("/v1/me/checkout", {"gateway": "sandbox", "items": [
        {"kind": "bill", "reference": "INV-2025-001234"}]}, role="consumer").json
    context, page = open_page(chromium, PHONE, locale="id-ID")
    page.goto(started["redirect_url"])
    page.get_by_role("button", name="Pay", exact=True).click()
    page.get_by_role("heading", name="Pembayaran berhasil").wait_for()
    assert page.get_by_test_id("total").inner_text().replace("\xa0", " ") == "US$145,50"
    shots(page, "payer-id")
    accessible(page)
    context.close()


def test_the_api_docs_render_from_loket_alone(chromium, live, shots):
    _api, base = live
    context, page = open_page(chromium, DESKTOP)
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(base) else None)
    page.goto(base + "/docs")
    page.get_by_text("/v1/payments/counter").first.wait_for()
    shots(page, "docs")
    assert not outside
    context.close()


def test_a_payer_part_pays_a_payment_link_on_a_phone(chromium, live, shots):
    api, base = live
    api.connect_sandbox()
    link = api.post("/v1/payment-links", {
        "account_number": "WU-10001", "amount_policy": "partial", "minimum": "50.00",
        "items": [{"kind": "bill", "reference": "INV-2025-001234"},
                  {"kind": "bill", "reference": "INV-2025-001567"}]},
        role="billing_manager").json
    assert link["url"].startswith(base + "/pay/pl_")
    context, page = open_page(chromium, PHONE)
    page.goto(link["url"])  # no sign-in: the link is the payer's key
    page.get_by_role("heading", name="Your bill").wait_for()
    for text in ("INV-2025-001234", "INV-2025-001567", "$297.75"):
        page.get_by_text(text).first.wait_for()
    shots(page, "link")
    accessible(page)
    page.get_by_label(re.compile("Amount to pay")).fill("10.00")
    page.get_by_role("button", name="Pay", exact=True).click()
    page.get_by_text("at least $50.00").first.wait_for()  # refused, nothing taken
    page.get_by_label(re.compile("Amount to pay")).fill("100.00")
    page.get_by_role("button", name="Pay", exact=True).click()
    page.get_by_role("heading", name="Sandbox checkout").wait_for()
    page.get_by_role("button", name="Pay", exact=True).click()
    page.get_by_text("$100.00").first.wait_for()
    shots(page, "link-paid-part")
    accessible(page)
    page.get_by_role("link", name="Back to your bill").click()
    page.get_by_text("$197.75").first.wait_for()  # what is still open
    shots(page, "link-after-part")
    context.close()
