"""The console's error page: a payment that does not exist, or a console address no page
answers, is a page in the tenant's language with the console's navigation (a signed-in
person can go on from it), not Falcon's JSON; the API keeps its problem documents."""

from __future__ import annotations

from support.console import Person, signed_in, text_of


def test_a_missing_payment_is_a_page_with_the_navigation_in_the_tenants_language(api):
    assert api.put("/v1/settings", {"locale": "id_ID"}).status_code == 200
    manager = signed_in(api, "billing_manager")
    missing = manager.get("/console/payments/PAY-9999")
    assert missing.status_code == 404
    text = text_of(missing.text)
    assert "Tidak ditemukan" in text and "Not found" not in text
    assert "Tidak ada pembayaran PAY-9999." in text
    assert 'href="/console/payments"' in missing.text  # the navigation
    assert 'action="/console/sign-out"' in missing.text


def test_an_unknown_console_address_is_the_not_found_page(api):
    manager = signed_in(api, "billing_manager")
    unknown = manager.get("/console/nothing/here")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("text/html")
    assert "This page does not exist." in text_of(unknown.text)
    assert 'href="/console/dashboard"' in unknown.text
    stranger = Person(client=api.client).get("/console/nothing")
    assert stranger.status_code == 404 and stranger.headers["content-type"].startswith(
        "text/html")
    assert "This page does not exist." in text_of(stranger.text)
    assert api.get("/v1/nothing-here").headers["content-type"].startswith(
        "application/problem+json")
