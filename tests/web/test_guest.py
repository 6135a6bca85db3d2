"""The guest payer's pages (no sign-in): identify with the tenant's facts, see what is owed,
pay several bills on the holder's behalf, the result and the receipt; wrong facts are refused
without saying which; a guest sees only its own payments. Through the forms, then in a real
browser on a phone in Indonesian with an axe-core check of every page."""

from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader
from support.browser import PHONE, accessible, open_page
from support.console import Person, text_of

RIGHT = {"account_number": "WU-10001", "name": "  john DOE ", "last_bill_amount": "152.25"}


def enable(api) -> None:
    assert api.put("/v1/settings", {"guest": {"enabled": True}}).status_code == 200


def identified(api) -> Person:
    guest = Person(client=api.client)
    guest.get("/guest/t1")
    result = guest.post("/guest/t1", RIGHT)
    assert result.status_code == 303 and result.headers["location"] == "/guest/t1/bills"
    guest.follow(result)
    return guest


def pays_for_the_holder(api, guest: Person) -> str:
    """Neighbour Ned pays John Doe's two bills as a guest; returns the result page's path."""
    started = guest.post("/guest/t1/bills", [
        ("item", "bill:INV-2025-001234"), ("item", "bill:INV-2025-001567"),
        ("payer_name", "Neighbour Ned"), ("payer_email", "ned@example.com"),
        ("gateway", "sandbox")])
    assert started.status_code == 303, text_of(started.text)
    back = api.payer_acts(started.headers["location"])
    api.settle()
    returned = guest.get(back.split("testserver")[-1].partition("?")[0],
                         query_string=back.partition("?")[2])
    return re.search(r'href="(/guest/t1/payments/[^"]+)"', returned.text).group(1)


def test_a_guest_pays_two_bills_for_the_holder_and_gets_the_receipt(connected_api):
    api = connected_api
    enable(api)
    guest = identified(api)
    text = text_of(guest.page)
    assert "John Doe" in text and "INV-2025-001234" in text and "INV-2025-001567" in text
    assert "john.doe@example.com" not in guest.page  # nothing personal beyond the name
    link = pays_for_the_holder(api, guest)
    result = guest.get(link)
    text = text_of(result.text)
    assert "Payment successful" in text and "Paid by Neighbour Ned" in text
    assert re.search(r'data-testid="total">\$297\.75<', result.text)
    receipt = guest.get(link + "/receipt.pdf")
    assert receipt.headers["content-type"] == "application/pdf"
    assert "297.75" in PdfReader(io.BytesIO(receipt.content)).pages[0].extract_text()
    number = link.rsplit("/", 1)[1]
    staff = api.get(f"/v1/payments/{number}").json["information"]
    assert staff["payer"]["name"] == "Neighbour Ned" and staff["status"] == "completed"


def test_the_guest_receipt_names_the_holder_and_the_payer_and_nothing_personal(
        connected_api):
    api = connected_api
    enable(api)
    guest = identified(api)
    receipt = guest.get(pays_for_the_holder(api, guest) + "/receipt.pdf")
    assert receipt.status_code == 200
    assert receipt.headers["cache-control"] == "no-store"
    text = "\n".join(page.extract_text()
                     for page in PdfReader(io.BytesIO(receipt.content)).pages)
    for shown in ("John Doe", "WU-10001", "Paid By", "Neighbour Ned", "ned@example.com"):
        assert shown in text, (shown, text)
    for private in ("john.doe@example.com", "+1 555 0100", "12 Water Lane"):
        assert private not in text, (private, text)


def test_wrong_facts_are_refused_without_saying_which(connected_api):
    api = connected_api
    enable(api)
    guest = Person(client=api.client)
    answers = []
    for facts in ({**RIGHT, "name": "Jane Roe"}, {**RIGHT, "last_bill_amount": "1.00"},
                  {**RIGHT, "account_number": "WU-99999"}):
        guest.get("/guest/t1")
        refused = guest.post("/guest/t1", facts)
        assert refused.status_code == 401
        answers.append(text_of(refused.text).replace(facts["account_number"], ""))
    assert len(set(answers)) == 1 and "could not identify an account" in answers[0]
    guest.get("/guest/t1")
    missing = guest.post("/guest/t1", {**RIGHT, "name": ""})
    assert missing.status_code == 422 and 'id="err-name"' in missing.text
    assert guest.get("/guest/t1/bills").status_code == 303  # not identified: back to the form
    assert not guest.signed_in


@pytest.mark.parametrize(("email", "said"), [
    ("ned@example.com, victim1@example.org", "Give one e-mail address, such as "
                                             "name@example.com."),
    ("a" * 288 + "@example.com", "Your e-mail is too long: at most 200 characters.")])
def test_a_payer_e_mail_that_is_not_one_address_is_refused_on_the_form(connected_api, email,
                                                                       said):
    api = connected_api
    enable(api)
    guest = identified(api)
    refused = guest.post("/guest/t1/bills", [
        ("item", "bill:INV-2025-001234"), ("payer_name", "Neighbour Ned"),
        ("payer_email", email), ("gateway", "sandbox")])
    assert refused.status_code == 422, text_of(refused.text)
    assert said in text_of(refused.text)  # naming the field, in the payer's words
    assert "INV-2025-001234" in refused.text  # the form again, with what was chosen
    assert api.get("/v1/payments").json["items"] == []


def test_a_guest_sees_only_its_own_payments_and_nothing_where_guests_are_off(connected_api):
    api = connected_api
    assert Person(client=api.client).get("/guest/t1").status_code == 404
    enable(api)
    started = api.post("/v1/me/checkout", {"gateway": "sandbox", "items": [
        {"kind": "bill", "reference": "INV-2025-001234"}]}, role="consumer").json
    someone_elses = started["payment"]["number"]
    guest = identified(api)
    assert guest.get(f"/guest/t1/payments/{someone_elses}").status_code == 404
    assert guest.get(f"/guest/t1/payments/{someone_elses}/receipt.pdf").status_code == 404
    assert Person(client=api.client).get(
        f"/guest/t1/payments/{someone_elses}").status_code == 303


@pytest.mark.slow
def test_a_guest_pays_on_a_phone_in_indonesian(chromium, live, shots):
    api, base = live
    api.connect_sandbox()
    enable(api)
    context, page = open_page(chromium, PHONE, locale="id-ID")
    page.goto(base + "/guest/t1")
    accessible(page)
    page.get_by_label("Nomor rekening pelanggan *").fill("WU-10001")
    page.get_by_label("Nama pada rekening *").fill("John Doe")
    page.get_by_label("Jumlah tagihan terakhir *").fill("999.00")
    page.get_by_role("button", name="Lanjut").click()
    page.get_by_role("alert").wait_for()
    shots(page, "guest-refused")
    accessible(page)
    page.get_by_label("Jumlah tagihan terakhir *").fill("152.2.5")
    page.get_by_role("button", name="Lanjut").click()
    page.locator("#err-last_bill_amount").wait_for()
    assert page.locator("#err-last_bill_amount").inner_text() == (
        "Jumlah tagihan terakhir: ini bukan jumlah uang. Tulis seperti 1.500,00 atau 1500.")
    shots(page, "guest-amount-unreadable")
    accessible(page)
    page.get_by_label("Jumlah tagihan terakhir *").fill("US$ 152,25")  # as the page writes it
    page.get_by_role("button", name="Lanjut").click()
    page.get_by_role("heading", name="Yang harus dibayar").wait_for()
    accessible(page)
    page.get_by_label(re.compile("INV-2025-001234")).check()
    page.get_by_label(re.compile("INV-2025-001567")).check()
    page.get_by_label("Nama Anda *").fill("Neighbour Ned")
    shots(page, "guest-bills")
    page.get_by_role("button", name="Bayar yang dipilih").click()
    page.get_by_role("button", name="Pay", exact=True).click()
    page.get_by_role("heading", name="Pembayaran berhasil").wait_for()
    accessible(page)
    page.get_by_role("link", name="Lihat pembayaran dan kuitansi Anda").click()
    page.get_by_role("heading", name="Pembayaran berhasil").wait_for()
    assert page.get_by_test_id("total").inner_text().replace("\xa0", " ") == "US$297,75"
    shots(page, "guest-result")
    accessible(page)
    context.close()


def test_a_stale_bills_form_is_shown_again_to_send_once_more(connected_api):
    api = connected_api
    enable(api)
    guest = identified(api)
    stale = guest.post("/guest/t1/bills", [
        ("csrf", "from an old page"), ("item", "bill:INV-2025-001234"),
        ("payer_name", "Neighbour Ned"), ("gateway", "sandbox")], csrf=False)
    assert stale.status_code == 403
    assert stale.headers["content-type"].startswith("text/html")
    assert "The form expired. Please try again." in text_of(stale.text)
    assert 'value="Neighbour Ned"' in stale.text  # what was typed is kept
    again = guest.post("/guest/t1/bills", [("item", "bill:INV-2025-001234"),
                                           ("payer_name", "Neighbour Ned"),
                                           ("gateway", "sandbox")])
    assert again.status_code == 303, text_of(again.text)


def test_right_after_paying_a_guest_is_told_when_and_where_the_receipt_comes(connected_api):
    api = connected_api
    enable(api)
    guest = identified(api)
    started = guest.post("/guest/t1/bills", [
        ("item", "bill:INV-2025-001234"), ("payer_name", "Neighbour Ned"),
        ("payer_email", "ned@example.com"), ("gateway", "sandbox")])
    back = api.payer_acts(started.headers["location"])
    returned = guest.get(back.split("testserver")[-1].partition("?")[0],
                         query_string=back.partition("?")[2])
    note = "A message with a link to download the receipt will then go to ned@example.com."
    assert "issued when the payment is settled" in text_of(returned.text)
    assert note in text_of(returned.text)
    link = re.search(r'href="(/guest/t1/payments/[^"]+)"', returned.text).group(1)
    assert note in text_of(guest.get(link).text)


def test_a_guest_who_gave_no_e_mail_is_told_to_keep_the_payment_number(connected_api):
    api = connected_api
    enable(api)
    guest = identified(api)
    started = guest.post("/guest/t1/bills", [
        ("item", "bill:INV-2025-001234"), ("payer_name", "Neighbour Ned"),
        ("gateway", "sandbox")])
    back = api.payer_acts(started.headers["location"])
    number = back.partition("?")[0].rsplit("/", 1)[1]
    text = text_of(guest.get(f"/guest/t1/payments/{number}").text)
    assert f"No message will be sent to you: keep the payment number {number}" in text


def test_a_guests_errors_are_a_guest_page_with_a_way_to_start_again(connected_api):
    api = connected_api
    enable(api)
    earlier = identified(api)
    link = pays_for_the_holder(api, earlier)
    later = identified(api)  # a new visit: the earlier visit's payment is not shown
    missing = later.get(link)
    assert missing.status_code == 404
    text = text_of(missing.text)
    assert "Back to the console" not in text and "/console" not in missing.text
    assert "Test Water t1" in text and "only during the visit it was made in" in text
    assert re.search(r'<a class="button" href="/guest/t1">Start again</a>', missing.text)
    unknown = Person(client=api.client, accept_language="id").get("/guest/nobody")
    assert unknown.status_code == 404 and "Tidak ditemukan" in text_of(unknown.text)
    assert "/console" not in unknown.text and "/guest/nobody" not in unknown.text


def guest_error(html: str) -> str | None:
    """The message under the last bill's amount, which the input names as its description."""
    found = re.search(r'<p class="notice bad" id="err-last_bill_amount">(.*?)</p>', html, re.S)
    if found is None:
        return None
    assert re.search(r'id="fact-last_bill_amount"[^>]*aria-invalid="true" '
                     r'aria-describedby="err-last_bill_amount"', html)
    return text_of(found.group(1))


@pytest.mark.parametrize(("language", "typed"), [
    ("id", "152,25"), ("id", "US$ 152,25"), ("id", "152.25"), ("en", "152.25"),
    ("en", "$152.25")])
def test_a_guest_types_the_last_bill_as_the_page_writes_it(connected_api, language, typed):
    api = connected_api
    enable(api)
    guest = Person(client=api.client, accept_language=language)
    form = text_of(guest.get("/guest/t1").text)
    assert ("mis. 1.500,00" if language == "id" else "e.g. 1,500.00") in form
    identified = guest.post("/guest/t1", {**RIGHT, "last_bill_amount": typed})
    assert identified.status_code == 303, text_of(identified.text)
    assert identified.headers["location"] == "/guest/t1/bills"


def test_an_amount_the_page_cannot_read_is_named_in_its_language_and_not_counted(
        connected_api):
    api = connected_api
    assert api.put("/v1/settings", {"guest": {"enabled": True, "attempts": 2}}
                   ).status_code == 200
    guest = Person(client=api.client, accept_language="id")
    for typed in ("152.25.0", "abc", "1,522.50", "Rp 152,25"):
        guest.get("/guest/t1")
        refused = guest.post("/guest/t1", {**RIGHT, "last_bill_amount": typed})
        assert refused.status_code == 422, text_of(refused.text)
        assert guest_error(refused.text) == ("Jumlah tagihan terakhir: ini bukan jumlah uang. "
                                             "Tulis seperti 1.500,00 atau 1500.")
        text = text_of(refused.text)
        assert "tidak dapat menemukan rekening" not in text and "decimal" not in text
        assert f'value="{typed}"' in refused.text  # what was typed stays
    guest.get("/guest/t1")
    refused = guest.post("/guest/t1", {**RIGHT, "last_bill_amount": "152,255"})
    assert guest_error(refused.text) == "Jumlah tagihan terakhir: paling banyak 2 desimal."
    english = Person(client=api.client, accept_language="en")
    english.get("/guest/t1")
    refused = english.post("/guest/t1", {**RIGHT, "last_bill_amount": "152,25"})
    assert guest_error(refused.text) == ("Amount of the last bill: this is not an amount. "
                                         "Write it like 1,500.00 or 1500.")
    guest.get("/guest/t1")  # none of those counted toward the two attempts
    assert guest.post("/guest/t1", {**RIGHT, "last_bill_amount": "152,25"}).status_code == 303
