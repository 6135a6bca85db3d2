"""What a page route answers when it cannot do what was asked: an HTML page in the tenant's
language with the console's navigation and, for a refused form, a link back to the form's
page — a form that expired with its session, a method the page does not take, a failure
nobody expected — never the API's JSON; the API keeps its problem documents."""

from __future__ import annotations

import re

from support.console import Person, counter_payment, signed_in, text_of

from loket.core.backoffice import queries


def indonesian(api) -> None:
    assert api.put("/v1/settings", {"locale": "id_ID"}).status_code == 200


def is_page(result, status: int) -> str:
    """The visible text of ``result``, an HTML page answered with ``status``."""
    assert result.status_code == status, (result.status_code, result.text[:300])
    assert result.headers["content-type"].startswith("text/html"), result.headers
    return text_of(result.text)


def back_link(html: str) -> str | None:
    """Where the page's "back to the form" link leads (either language), if it has one."""
    found = re.search(r'<a class="button" href="([^"]+)">(?:Back to the form|Kembali ke '
                      r'formulir)</a>', html)
    return found.group(1) if found else None


def with_a_stale_page(api, credential: str) -> Person:
    """A person signed in with ``credential`` who holds a page of another session of theirs
    (its CSRF token is not this session's), as after signing in again in another tab."""
    person = Person(client=api.client)
    person.follow(person.sign_in(credential))
    other = Person(client=api.client)
    other.follow(other.sign_in(credential))
    person.page = other.page
    return person


def test_an_expired_form_is_a_page_with_the_navigation_and_a_way_back_to_it(api):
    indonesian(api)
    admin = with_a_stale_page(api, api.keys["tenant_admin"])
    refused = admin.post("/console/gateways/sandbox/active", {"active": "on"})
    text = is_page(refused, 403)
    assert "Formulir kedaluwarsa" in text and "tidak ada yang diubah" in text
    assert "Form expired" not in text
    assert back_link(refused.text) == "/console/gateways"
    assert 'href="/console/settings"' in refused.text  # the console's navigation
    assert 'action="/console/sign-out"' in refused.text
    gateways = api.get("/v1/gateways", role="tenant_admin").json["items"]
    assert not next(g for g in gateways if g["kind"] == "sandbox")["active"]


def test_the_way_back_is_the_page_the_browser_came_from_on_this_site(api):
    manager = with_a_stale_page(api, api.keys["billing_manager"])
    number = counter_payment(api)
    came_from = f"http://falconframework.org/console/payments/{number}?tab=history"
    refused = manager.client.simulate_post(
        f"/console/payments/{number}/verify", body="csrf=old",
        headers=manager._headers({"Content-Type": "application/x-www-form-urlencoded",
                                  "Referer": came_from}))
    is_page(refused, 403)
    assert back_link(refused.text) == f"/console/payments/{number}?tab=history"
    for elsewhere in ("https://evil.example/console/settings", "/console/nothing/here",
                      f"http://falconframework.org/console/payments/{number}/verify"):
        refused = manager.client.simulate_post(
            f"/console/payments/{number}/verify", body="csrf=old",
            headers=manager._headers({"Content-Type": "application/x-www-form-urlencoded",
                                      "Referer": elsewhere}))
        assert back_link(refused.text) == f"/console/payments/{number}", elsewhere


def test_a_payers_expired_form_leads_back_to_their_bills_in_their_navigation(api):
    indonesian(api)
    consumer = with_a_stale_page(api, api.consumer_token)
    refused = consumer.post("/console/bills/pay", {"item": "bill:INV-2025-001234",
                                                   "gateway": "sandbox"})
    text = is_page(refused, 403)
    assert "Formulir kedaluwarsa" in text and "Tagihan saya" in text  # "My bills" in the nav
    assert back_link(refused.text) == "/console/bills"
    assert 'href="/console/my-payments"' in refused.text
    assert api.get("/v1/payments").json["total"] == 0


def test_a_method_a_page_does_not_take_is_a_page_and_the_api_keeps_json(api):
    indonesian(api)
    manager = signed_in(api, "billing_manager")
    answer = manager.get("/console/todos/1/resolve")  # a form's address, opened
    text = is_page(answer, 405)
    assert "Halaman ini tidak ada." in text
    assert "POST" in answer.headers["allow"]
    assert 'href="/console/dashboard"' in answer.text
    stranger = Person(client=api.client).get("/console/sign-out")
    is_page(stranger, 405)
    assert api.put("/v1/settings", {"guest": {"enabled": True}}).status_code == 200
    guest = Person(client=api.client, accept_language="id").get("/guest/t1/finish")
    text = is_page(guest, 405)  # the guest's own page, in the payer's layout
    assert "Halaman ini tidak ada." in text and "Mulai lagi" in text  # "Start again"
    assert 'href="/guest/t1"' in guest.text and "/console" not in guest.text
    api_answer = api.client.simulate_request("PATCH", "/v1/settings",
                                             headers=api.headers("tenant_admin"))
    assert api_answer.status_code == 405
    assert api_answer.headers["content-type"].startswith("application/problem+json")


def test_an_unexpected_failure_on_a_page_is_a_page_naming_the_request(api, monkeypatch):
    consumer = Person(client=api.client)
    consumer.follow(consumer.sign_in(api.consumer_token))

    def broken(*args, **kwargs):
        raise RuntimeError("the database row had a shape nobody expected")

    monkeypatch.setattr(queries, "list_payments", broken)
    answer = consumer.get("/console/my-payments")
    text = is_page(answer, 500)
    assert "Something unexpected went wrong" in text and "request id" in text
    assert "shape nobody expected" not in answer.text and "Traceback" not in answer.text
    assert 'href="/console/bills"' in answer.text  # still the navigation
    api_answer = api.get("/v1/me", role="consumer")
    assert api_answer.status_code == 500
    assert api_answer.headers["content-type"].startswith("application/problem+json")
