"""One payment at the console as back-office staff read it: a payment whose money was never
taken (failed, cancelled, still waiting) shows nothing received and offers no credit note;
the items a payment went to are listed once, in words (not ``void``/``posted``), with the
gateway's name and the checks in words; a refused credit note keeps what was typed, open,
its message under the field in the tenant's language."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from support.console import counter_payment, signed_in, text_of
from support.forms import banner, field_message


def online_payment(api, outcome: str) -> dict:
    """A payment of February's bill through a payment link on the sandbox, where the payer
    presses ``outcome`` (``pay`` or ``cancel``)."""
    link = api.post("/v1/payment-links", {"account_number": "WU-10001", "items": [
        {"kind": "bill", "reference": "INV-2025-001567"}]}, role="billing_manager").json
    started = api.client.simulate_post(
        urlsplit(link["url"]).path, body="gateway=sandbox",
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert started.status_code == 303, started.text
    api.payer_acts(started.headers["location"], outcome)
    (payment,) = api.get("/v1/payments", query_string="channel=online").json["items"]
    return payment


def facts(html: str) -> dict[str, str]:
    """The page's ``<dt>``/``<dd>`` pairs as text (the last of a repeated term)."""
    return {text_of(k): text_of(v) for k, v in
            re.findall(r"<dt>(.*?)</dt>\s*<dd[^>]*>(.*?)</dd>", html, re.S)}


def test_a_failed_online_payment_shows_nothing_received_and_offers_no_credit_note(
        connected_api):
    api = connected_api
    payment = online_payment(api, "cancel")
    assert payment["status"] == "failed"
    manager = signed_in(api, "billing_manager")
    page = manager.get(f"/console/payments/{payment['number']}")
    shown = facts(page.text)
    assert shown["Amount received"] == "—" and shown["Applied"] == "—"
    assert shown["Result"] == "Nothing taken"
    assert "Issue a credit note" not in text_of(page.text)
    assert f'action="/console/payments/{payment["number"]}/credit-notes"' not in page.text
    text = text_of(page.text)
    assert "Bill · INV-2025-001567 · Not paid" in text and "intended" not in text
    assert shown["Gateway"] == "Sandbox (test gateway)"
    assert shown["Verification"] == "Not verified"
    assert shown["Settlement"] == "—" and shown["Application"] == "—"


def test_a_paid_online_payment_lists_its_item_once_as_paid(connected_api):
    api = connected_api
    payment = online_payment(api, "pay")
    assert payment["status"] in ("succeeded", "completed")
    detail = api.get(f"/v1/payments/{payment['number']}").json
    assert sorted(a["state"] for a in detail["destination_details"]) == ["posted", "void"]
    manager = signed_in(api, "billing_manager")
    page = manager.get(f"/console/payments/{payment['number']}")
    text = text_of(page.text)
    assert text.count("INV-2025-001567") == 1, text
    assert "Bill · INV-2025-001567 · Paid" in text
    assert not re.search(r"\b(void|posted|unverified|pending|sandbox|N/A)\b", text), text
    shown = facts(page.text)
    assert shown["Amount received"] == "$152.25" and shown["Result"] == "Paid exactly"
    assert shown["Application"] == "Applied to the items"
    assert f'action="/console/payments/{payment["number"]}/credit-notes"' in page.text


def test_a_refused_credit_note_keeps_what_was_typed_open_with_the_reason_in_indonesian(api):
    assert api.put("/v1/settings", {"locale": "id_ID"}).status_code == 200
    number = counter_payment(api)
    manager = signed_in(api, "billing_manager")
    manager.get(f"/console/payments/{number}")
    refused = manager.post(f"/console/payments/{number}/credit-notes", {
        "amount": "999.00", "reason": "Billing Error", "remarks": "meter read twice"})
    assert refused.status_code == 422
    assert banner(refused.text) == "Perbaiki isian yang ditandai."
    assert field_message(refused.text, "cn-amount") == "Sisanya paling banyak US$145,50."
    assert "<details open>" in refused.text
    assert re.search(r'<input id="cn-amount"[^>]* value="999.00"', refused.text)
    assert '<option value="Billing Error" selected>' in refused.text
    assert ">meter read twice</textarea>" in refused.text
    assert "cannot give back" not in refused.text
    assert api.get("/v1/credit-notes").json["total"] == 0


@pytest.mark.parametrize(("locale", "typed"), [("id_ID", "5,25"), ("id_ID", "US$ 5,25"),
                                               ("id_ID", "5.25"), ("en_US", "5.25")])
def test_a_credit_notes_amount_is_read_as_the_console_writes_it(api, locale, typed):
    assert api.put("/v1/settings", {"locale": locale}).status_code == 200
    number = counter_payment(api)
    manager = signed_in(api, "billing_manager")
    manager.get(f"/console/payments/{number}")
    issued = manager.post(f"/console/payments/{number}/credit-notes", {
        "amount": typed, "reason": "Billing Error", "remarks": ""})
    assert issued.status_code == 303, text_of(issued.text)
    assert api.get("/v1/credit-notes").json["items"][0]["amount"]["amount"] == 525


def test_a_credit_notes_amount_the_console_cannot_read_is_named_in_its_language(api):
    assert api.put("/v1/settings", {"locale": "id_ID"}).status_code == 200
    number = counter_payment(api)
    manager = signed_in(api, "billing_manager")
    page = manager.get(f"/console/payments/{number}")
    assert re.search(r'id="cn-amount"[^>]*placeholder="mis\. 1\.500,00"', page.text)
    refused = manager.post(f"/console/payments/{number}/credit-notes", {
        "amount": "5,25,0", "reason": "Billing Error", "remarks": ""})
    assert refused.status_code == 422
    assert field_message(refused.text, "cn-amount") == \
        "Jumlah: ini bukan jumlah uang. Tulis seperti 1.500,00 atau 1500."
    too_much = manager.post(f"/console/payments/{number}/credit-notes", {
        "amount": "1.500,00", "reason": "Billing Error", "remarks": ""})  # 1500, not 1.5
    assert field_message(too_much.text, "cn-amount") == "Sisanya paling banyak US$145,50."
    assert api.get("/v1/credit-notes").json["total"] == 0
