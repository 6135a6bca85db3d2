"""The settings and casework screens in a real browser (headless Chromium via Playwright):
each screen's main flow as a person does it, with an axe-core check of every screen."""

from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader
from support.browser import DESKTOP, PHONE, accessible, open_page, sign_in

pytestmark = pytest.mark.slow
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
       b"\x00\x00\x00\x00IEND\xaeB`\x82")


def test_tenant_admin_edits_the_settings(chromium, live, shots, tmp_path):
    api, base = live
    context, page = open_page(chromium, DESKTOP)
    sign_in(page, base, api.keys["tenant_admin"])
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("heading", name="Settings").wait_for()
    accessible(page)
    page.get_by_label("Time zone").fill("Mars/Olympus")
    page.get_by_label("Longest note (characters)").fill("lots")
    page.get_by_role("button", name="Save settings").click()
    page.get_by_text("Enter a whole number.").wait_for()
    assert page.get_by_label("Longest note (characters)").get_attribute("aria-invalid") == "true"
    shots(page, "settings-refused")
    accessible(page)
    page.get_by_label("Longest note (characters)").fill("800")
    page.get_by_label("Time zone").fill("Asia/Jakarta")
    page.get_by_label("Address on receipts").fill("Jl. Sudirman 1, Jakarta")
    logo = tmp_path / "logo.png"
    logo.write_bytes(PNG)
    page.get_by_label("Logo on receipts (PNG or JPEG)").set_input_files(str(logo))
    page.get_by_label("Language and formats").select_option("id_ID")
    page.get_by_role("button", name="Save settings").click()
    page.get_by_text("Pengaturan disimpan.").wait_for()
    shots(page, "settings-saved-id")
    accessible(page)
    settings = api.get("/v1/settings", role="tenant_admin").json
    assert settings["timezone"] == "Asia/Jakarta" and settings["notes_max_length"] == 800
    assert settings["documents"]["logo"].startswith("iVBORw0KGgo")
    context.close()


def test_billing_manager_works_a_dispute_a_link_and_reconciliation(chromium, live, shots):
    api, base = live
    made = api.post("/v1/payments/counter", {
        "account_number": "WU-10001", "payment_type": "bill", "method": "cash",
        "amount_received": "145.50", "references": ["INV-2025-001234"],
        "paid_on": "2025-01-15"}).json["information"]["number"]
    context, page = open_page(chromium, DESKTOP)
    sign_in(page, base, api.keys["billing_manager"])
    page.get_by_test_id("trend-chart").wait_for()
    accessible(page)
    shots(page, "dashboard-trend")
    page.goto(f"{base}/console/payments/{made}")
    with page.expect_download() as downloaded:
        page.get_by_role("link", name="Download receipt (PDF)").click()
    content = open(downloaded.value.path(), "rb").read()
    assert "145.50" in PdfReader(io.BytesIO(content)).pages[0].extract_text()
    page.get_by_role("link", name="Open a dispute").click()
    accessible(page)
    page.get_by_label("Reason *").fill("Meter misread")
    page.get_by_label(re.compile("^Disputed amount")).fill("20.00")
    page.get_by_role("button", name="Open dispute").click()
    page.get_by_text("Dispute opened.").wait_for()
    accessible(page)
    page.get_by_label("Move to").select_option("under_review")
    page.get_by_role("button", name="Update dispute").click()
    page.get_by_text("Dispute updated.").wait_for()
    page.get_by_label("Move to").select_option("won")
    page.get_by_role("button", name="Update dispute").click()
    page.get_by_text("Dispute updated.").wait_for()
    shots(page, "dispute-won")
    assert api.get("/v1/disputes").json["items"][0]["status"] == "won"

    page.get_by_role("link", name="Payment links").click()
    page.get_by_label("Account number").fill("WU-10001")
    page.get_by_role("button", name="Continue").click()
    page.get_by_label(re.compile("INV-2025-001567")).check()
    page.get_by_label("Description").fill("March water")
    accessible(page)
    page.get_by_role("button", name="Create link").click()
    page.get_by_text("Payment link created.").wait_for()
    shots(page, "payment-links")
    accessible(page)
    url = api.get("/v1/payment-links").json["items"][0]["url"]
    assert page.get_by_role("textbox", name="Payment link for John Doe").input_value() == url

    page.get_by_role("link", name="Reconciliation").click()
    accessible(page)
    page.get_by_label(re.compile("^Statement")).set_input_files(files=[{
        "name": "statement.csv", "mimeType": "text/csv",
        "buffer": b"date,reference,amount,description\n2025-01-16,BANK-9,12.00,unknown\n"}])
    page.get_by_role("button", name="Upload statement").click()
    for _ in range(100):  # the worker reads the file; the page offers to look again
        if page.get_by_text("BANK-9").count():
            break
        if page.get_by_test_id("check-again").count():
            page.get_by_test_id("check-again").click()
        page.wait_for_timeout(100)
    page.get_by_text("BANK-9").wait_for()
    assert page.get_by_test_id("unmatched").inner_text() == "1"
    shots(page, "reconciliation")
    accessible(page)
    page.get_by_role("link", name="Open the to-dos").click()
    page.get_by_role("heading", name="To-dos").wait_for()
    page.goto(base + "/console/approvals")
    accessible(page)
    context.close()


def test_the_consumers_auto_pay_on_a_phone(chromium, live, shots):
    api, base = live
    api.connect_sandbox()
    context, page = open_page(chromium, PHONE)
    sign_in(page, base, api.consumer_token)
    page.get_by_role("link", name="My auto-pay").click()
    accessible(page)
    page.get_by_role("button", name="Continue to the gateway").click()
    page.get_by_role("button", name="Save card", exact=True).click()
    page.goto(base + "/console/my-autopay")
    page.get_by_role("button", name="Save auto-pay").click()
    page.get_by_text("Auto-pay saved.").wait_for()
    assert page.get_by_test_id("autopay-state").inner_text() == "On"
    shots(page, "my-autopay")
    accessible(page)
    context.close()
