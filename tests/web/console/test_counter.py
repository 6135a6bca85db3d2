"""Record Payment refused: each refused field's message stands under its input, which names
it (``aria-describedby``) and is marked invalid, in the tenant's language and without the
API's field names; the banner says to correct the marked fields; what was typed stays."""

from __future__ import annotations

from support.console import signed_in, text_of
from support.forms import banner, field_message


def refuse(api) -> str:
    cashier = signed_in(api, "cso_admin")
    cashier.get("/console/payments/new", query_string="account=WU-10001")
    refused = cashier.post("/console/payments/new", [
        ("account_number", "WU-10001"), ("payment_type", "bill"), ("method", "card"),
        ("amount_received", ""), ("change_given", "4.50"), ("paid_on", "2025-01-15"),
        ("notes", "at the desk")])
    assert refused.status_code == 422
    assert api.get("/v1/payments").json["total"] == 0
    return refused.text


def test_the_refused_fields_are_marked_and_said_under_their_inputs(api):
    page = refuse(api)
    assert banner(page) == "Please correct the marked fields."
    assert field_message(page, "amount_received") == "This field is required."
    assert field_message(page, "change_given") == "Change is given only for cash."
    assert 'aria-describedby="change-help err-change_given"' in page
    assert field_message(page, "paid_on") is None and field_message(page, "notes") is None
    assert 'value="4.50"' in page and ">at the desk</textarea>" in page
    assert "amount received is required" not in text_of(page)


def test_on_an_indonesian_console_they_are_said_in_indonesian(api):
    assert api.put("/v1/settings", {"locale": "id_ID"}).status_code == 200
    page = refuse(api)
    assert banner(page) == "Perbaiki isian yang ditandai."
    assert field_message(page, "amount_received") == "Isian ini wajib diisi."
    assert field_message(page, "change_given") == "Kembalian hanya untuk pembayaran tunai."
    text = text_of(page)
    assert "is required" not in text and "amount_received" not in text
    assert "counter payment is incomplete" not in text
