"""What every console form and the guest's identify form share: text no database stores
is refused naming its field before anything is done, and page numbers and ids are whole
numbers a database integer holds (anything else is page 1, or no such record)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from support.console import Person, counter_payment, signed_in, text_of


def urlencoded(person: Person, path: str, body: str):
    """POST an url-encoded body as written (a browser may send any bytes)."""
    return person.client.simulate_post(path, body=body, headers=person._headers(
        {"Content-Type": "application/x-www-form-urlencoded"}))


def test_a_nul_in_a_console_form_names_the_field_and_stores_nothing(api):
    number = counter_payment(api)
    manager = signed_in(api, "billing_manager")
    manager.get("/console/disputes/new", query_string=f"payment={number}")
    refused = manager.post("/console/disputes/new", {"payment": number, "reason": "a\x00b"})
    assert refused.status_code == 422
    assert "reason: text contains a NUL character or a lone UTF-16 surrogate" in text_of(
        refused.text)
    assert api.get("/v1/disputes").json["total"] == 0


def test_a_nul_in_a_multipart_form_names_the_field(api):
    admin = signed_in(api, "tenant_admin")
    admin.get("/console/settings")
    csrf = admin.page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    body = "".join(f'--b\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                   for k, v in [("csrf", csrf), ("documents.address", "Main St\x00 1")])
    refused = admin.client.simulate_post("/console/settings", body=body + "--b--\r\n",
                                         headers=admin._headers(
        {"Content-Type": "multipart/form-data; boundary=b"}))
    assert refused.status_code == 422
    assert "documents.address: text contains a NUL" in text_of(refused.text)


def test_a_nul_in_the_guest_identify_form_names_the_field(api):
    assert api.put("/v1/settings", {"guest": {"enabled": True}}).status_code == 200
    guest = Person(client=api.client)
    guest.get("/guest/t1")
    csrf = guest.page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    refused = urlencoded(guest, "/guest/t1", f"account_number=WU-1%00&name=John+Doe&"
                         f"last_bill_amount=152.25&csrf={quote(csrf)}")
    assert refused.status_code == 422
    assert "account_number: text contains a NUL" in text_of(refused.text)
    assert not guest.signed_in


@pytest.mark.parametrize("page", ["%C2%B2", "0", "-1", "x", "9" * 10, "9" * 5000])
def test_a_page_number_that_is_no_small_whole_number_shows_the_first_page(api, page):
    staff = signed_in(api, "billing_manager")
    for path in ("/console/payments", "/console/disputes", "/console/approvals",
                 "/console/todos", "/console/plans", "/console/payment-links"):
        shown = staff.get(path, query_string=f"page={page}")
        assert shown.status_code == 200, (path, shown.text[:300])


@pytest.mark.parametrize("number", ["%C2%B2", "9" * 10, "1" * 5000])
def test_an_id_that_is_no_small_whole_number_is_not_found(api, number):
    staff = signed_in(api, "tenant_admin")
    assert staff.get(f"/console/disputes/{number}").status_code == 404
    for path, fields in ((f"/console/disputes/{number}/notes", {"note": "x"}),
                         (f"/console/approvals/{number}/approve", {}),
                         (f"/console/todos/{number}/resolve", {"resolution": "done"})):
        staff.get("/console/todos")  # a page of the session (its CSRF token)
        assert staff.post(path, fields).status_code == 404, path


def test_whole_number_fields_of_other_digits_are_named_not_a_crash(api):
    plan = api.get("/v1/payment-plans").json["items"][0]["reference"]
    planner = signed_in(api, "recovery_executive")
    planner.get(f"/console/plans/{plan}")
    refused = planner.post(f"/console/plans/{plan}/reschedule", {
        "installments": "²", "frequency": "monthly", "first_due_on": "2999-01-01"})
    assert refused.status_code == 422
    assert 'id="err-reschedule-installments"' in refused.text


@pytest.mark.parametrize("path", ["/console/payments/PAY%00", "/console/plans/PP%00",
                                  "/console/credit-notes/CN%00"])
def test_a_nul_in_a_page_path_is_no_such_page(api, path):
    admin = signed_in(api, "tenant_admin")
    assert admin.get(path).status_code == 404


def test_a_form_larger_than_a_page_takes_is_a_page_not_json(api):
    assert api.put("/v1/settings", {"locale": "id_ID"}).status_code == 200
    manager = signed_in(api, "billing_manager")
    manager.get("/console/disputes/new")
    refused = urlencoded(manager, "/console/disputes/new", "reason=" + "x" * 300_000)
    assert refused.status_code == 413
    assert refused.headers["content-type"].startswith("text/html")
    assert "Formulir terlalu besar." in text_of(refused.text)
    assert 'href="/console/disputes/new">Kembali ke formulir' in refused.text
    assert 'href="/console/dashboard"' in refused.text  # the navigation
    stranger = urlencoded(Person(client=api.client), "/console/sign-in",
                          "credential=" + "x" * 300_000)
    assert stranger.status_code == 413
    assert stranger.headers["content-type"].startswith("text/html")
    assert "The form is too large." in text_of(stranger.text)
