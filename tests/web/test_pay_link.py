"""The payer's payment-link page (``/pay/{token}``) and where the payer lands after paying
through it: the payer's language, one error said once, the stylesheet's notices, the same
translated result page as every payer with a way back to the link, the tenant's own
``return_url``, and a phone-sized page that never scrolls sideways."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from support.browser import DESKTOP, PHONE, accessible, open_page
from support.console import Person, text_of

import loket.web

STYLESHEET = (Path(loket.web.__file__).parent / "static" / "loket.css").read_text()


def make_link(api, **extra) -> str:
    """A partial-payment link for John Doe's January bill; its page's path."""
    body = {"account_number": "WU-10001", "amount_policy": "partial",
            "items": [{"kind": "bill", "reference": "INV-2025-001234"}], **extra}
    made = api.post("/v1/payment-links", body, role="billing_manager")
    assert made.status_code == 201, made.text
    return urlsplit(made.json["url"]).path


def pays_through(api, payer: Person, path: str, outcome: str = "pay"):
    """The payer opens the link, pays 145.50 on the sandbox with ``outcome`` and follows
    the gateway back; returns loket's answer."""
    payer.get(path)
    started = payer.post(path, {"amount": "145.50", "gateway": "sandbox"}, csrf=False)
    assert started.status_code == 303, text_of(started.text)
    back = urlsplit(api.payer_acts(started.headers["location"], outcome))
    return payer.get(back.path, query_string=back.query)


def classes_of(html: str) -> set[str]:
    """The class names a page uses on its notices."""
    return {name for value in re.findall(r'<p class="(notice[^"]*)"', html)
            for name in value.split()}


def test_the_link_page_speaks_the_payers_language(connected_api):
    api = connected_api  # the tenant writes English
    path = make_link(api)
    page = Person(client=api.client, accept_language="id-ID,id;q=0.9").get(path).text
    assert 'lang="id"' in page
    assert "Tagihan Anda" in text_of(page) and "US$145,50" in text_of(page)
    english = Person(client=api.client, accept_language="en-US").get(path).text
    assert 'lang="en"' in english and "Your bill" in text_of(english)


def test_an_unknown_link_is_said_in_the_payers_language_under_the_tenants_name(api):
    missing = Person(client=api.client, accept_language="id").get("/pay/pl_nothing.abc")
    assert missing.status_code == 404
    text = text_of(missing.text)
    assert 'lang="id"' in missing.text and "Test Water t1" in text and "loket" not in text
    assert "Tautan pembayaran tidak ditemukan" in text


def test_a_refusal_is_said_once_on_the_links_form(connected_api):
    api = connected_api
    path = make_link(api, minimum="10.00")
    payer = Person(client=api.client)
    payer.get(path)
    refused = payer.post(path, {"amount": "1", "gateway": "sandbox"}, csrf=False)
    assert refused.status_code == 422
    assert len(re.findall(r'role="alert"', refused.text)) == 1
    assert re.search(r'<form [^>]*class="pay-form">\s*<p class="notice bad" role="alert"',
                     refused.text)


def test_the_links_notices_use_the_stylesheets_notice_classes(connected_api):
    api = connected_api
    path = make_link(api)
    link_id = api.get("/v1/payment-links", role="billing_manager").json["items"][0]["id"]
    assert api.post(f"/v1/payment-links/{link_id}/cancel",
                    role="billing_manager").status_code == 200
    cancelled = Person(client=api.client).get(path).text
    assert "was cancelled" in cancelled
    used = classes_of(cancelled)
    assert used == {"notice", "bad"}, used
    for name in used:
        assert f".{name}" in STYLESHEET, name


def test_after_cancelling_the_payer_is_told_in_their_language_and_can_go_back(connected_api):
    api = connected_api
    assert api.put("/v1/settings", {"locale": "id_ID"}).status_code == 200
    path = make_link(api)
    result = pays_through(api, Person(client=api.client, accept_language="id"), path,
                          "cancel")
    assert result.status_code == 200
    text = text_of(result.text)
    assert "Anda meninggalkan halaman pembayaran" in text, text
    assert "Tidak ada biaya yang ditagihkan" in text
    for wrong in ("Failed", "Gagal", "Payment failed", ".."):
        assert wrong not in text, (wrong, text)
    back = re.search(r'<a class="button" href="([^"]+)"[^>]*>Kembali ke tagihan Anda<',
                     result.text)
    assert back and urlsplit(back.group(1)).path == path


def test_after_paying_the_payer_sees_the_result_and_when_the_receipt_comes(connected_api):
    api = connected_api
    path = make_link(api)
    result = pays_through(api, Person(client=api.client), path)
    text = text_of(result.text)
    assert "Payment successful" in text and "$145.50" in text
    assert ("A message with a link to download the receipt will then go to the account "
            "holder.") in text
    assert "john.doe@example.com" not in text  # whoever holds the link: no addresses
    assert "Back to your bill" in text


def test_a_link_payment_goes_to_the_tenants_return_url_too(connected_api):
    api = connected_api
    assert api.put("/v1/settings", {"return_url": "https://water.example/paid"}
                   ).status_code == 200
    answer = pays_through(api, Person(client=api.client), make_link(api))
    assert answer.status_code == 303
    target = urlsplit(answer.headers["location"])
    assert (target.netloc, target.path) == ("water.example", "/paid")
    assert "status=succeeded" in target.query and "sig=" in target.query


def _fits(page) -> tuple[int, int]:
    return page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")


@pytest.mark.slow
@pytest.mark.parametrize("locale", ["en-US", "id-ID"])
def test_the_link_page_fits_a_phone_and_a_desktop(chromium, live, shots, locale):
    api, _base = live
    api.connect_sandbox()
    made = api.post("/v1/payment-links", {"account_number": "WU-10001",
                                          "amount_policy": "partial", "minimum": "10.00"},
                    role="billing_manager").json
    for name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        context, page = open_page(chromium, viewport, locale=locale)
        page.goto(made["url"])
        scroll, inner = _fits(page)
        shots(page, f"link-{name}")
        assert scroll <= inner, f"{name}: {scroll} px wide on a {inner} px screen"
        accessible(page)
        if name == "phone":  # each item's figures are labelled without the table's header
            labels = page.evaluate("""() => [...document.querySelectorAll(
                'table.items tbody tr:first-child td')].filter(td => td.offsetParent)
                .map(td => getComputedStyle(td, '::before').content)""")
            assert labels[1:] == (['"Due"', '"Open"'] if locale == "en-US"
                                  else ['"Jatuh tempo"', '"Terbuka"']), labels
            page.locator("#amount").fill("1")
            page.get_by_role("button", name=re.compile("^(Pay|Bayar)$")).click()
            page.get_by_role("alert").wait_for()
            shots(page, f"link-{name}-refused")
            assert _fits(page)[0] <= inner
            page.locator("#amount").fill("12,3,4")  # neither way of writing an amount
            page.get_by_role("button", name=re.compile("^(Pay|Bayar)$")).click()
            page.get_by_text(re.compile("^(Amount to pay|Jumlah yang dibayar): ")).wait_for()
            shots(page, f"link-{name}-unreadable")
            accessible(page)
        context.close()


@pytest.mark.parametrize(("language", "typed"), [
    ("id", "145,50"), ("id", "US$ 145,50"), ("id", "145.50"), ("en", "145.50"),
    ("en", "$145.50")])
def test_a_payer_types_the_amount_as_the_page_writes_it(connected_api, language, typed):
    api = connected_api
    path = make_link(api)
    payer = Person(client=api.client, accept_language=language)
    page = payer.get(path).text
    assert re.search(r'id="amount"[^>]*placeholder="(mis\. 1\.500,00|e\.g\. 1,500\.00)"', page)
    started = payer.post(path, {"amount": typed, "gateway": "sandbox"}, csrf=False)
    assert started.status_code == 303, text_of(started.text)
    (payment,) = api.get("/v1/payments", query_string="channel=online").json["items"]
    assert payment["amount"]["amount"] == 14550


@pytest.mark.parametrize(("language", "typed", "said"), [
    ("id", "abc", "Jumlah yang dibayar: ini bukan jumlah uang. Tulis seperti 1.500,00 atau "
                  "1500."),
    ("id", "145,505", "Jumlah yang dibayar: paling banyak 2 desimal."),
    ("en", "145,50", "Amount to pay: this is not an amount. Write it like 1,500.00 or 1500.")])
def test_an_amount_the_link_page_cannot_read_is_named_in_its_language(connected_api, language,
                                                                      typed, said):
    api = connected_api
    path = make_link(api)
    payer = Person(client=api.client, accept_language=language)
    payer.get(path)
    refused = payer.post(path, {"amount": typed, "gateway": "sandbox"}, csrf=False)
    assert refused.status_code == 422
    alert = re.search(r'role="alert" id="pay-error">([^<]*)<', refused.text)
    assert alert and text_of(alert.group(1)) == said
    assert re.search(rf'id="amount"[^>]*value="{re.escape(typed)}" '
                     r'aria-describedby="pay-error" aria-invalid="true"', refused.text)
    assert api.get("/v1/payments").json["total"] == 0
