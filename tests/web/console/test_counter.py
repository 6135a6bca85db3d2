"""Record Payment refused: each refused field's message stands under its input, which names
it (``aria-describedby``) and is marked invalid, in the tenant's language and without the
API's field names; the banner says to correct the marked fields; what was typed stays.
The amounts are read as the console writes them (``1.500,00`` in Indonesian)."""

from __future__ import annotations

import pytest
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


def record(api, locale: str, received: str, change: str = "0"):
    """A cashier on a console in ``locale`` records cash for INV-2025-001234 as typed."""
    assert api.put("/v1/settings", {"locale": locale}).status_code == 200
    cashier = signed_in(api, "cso_admin")
    cashier.get("/console/payments/new", query_string="account=WU-10001")
    return cashier.post("/console/payments/new", [
        ("account_number", "WU-10001"), ("payment_type", "bill"), ("method", "cash"),
        ("reference", "INV-2025-001234"), ("amount_received", received),
        ("change_given", change), ("paid_on", "2025-01-15")])


@pytest.mark.parametrize(("locale", "received", "change", "minor"), [
    ("id_ID", "145,50", "0", (14550, 0)), ("id_ID", "1.500,00", "1.354,50", (150000, 135450)),
    ("id_ID", "US$ 145.50", "", (14550, 0)), ("en_US", "145.50", "0", (14550, 0)),
    ("en_US", "$1,500.00", "1,354.50", (150000, 135450))])
def test_the_amounts_are_read_as_the_console_writes_them(api, locale, received, change,
                                                         minor):
    answer = record(api, locale, received, change)
    assert answer.status_code == 303, text_of(answer.text)
    (payment,) = api.get("/v1/payments").json["items"]
    assert (payment["amount_received"]["amount"], payment["change_given"]["amount"]) == minor
    assert payment["amount"]["amount"] == 14550


def test_an_amount_the_console_cannot_read_is_named_under_its_field_in_its_language(api):
    page = record(api, "id_ID", "1,500.00")
    assert page.status_code == 422
    assert field_message(page.text, "amount_received") == \
        "Jumlah diterima: ini bukan jumlah uang. Tulis seperti 1.500,00 atau 1500."
    assert banner(page.text) == "Perbaiki isian yang ditandai."
    assert 'placeholder="mis. 1.500,00"' in page.text and 'value="1,500.00"' in page.text
    page = record(api, "id_ID", "145,50", "1,5x")
    assert field_message(page.text, "change_given") == \
        "Kembalian: ini bukan jumlah uang. Tulis seperti 1.500,00 atau 1500."
    page = record(api, "en_US", "145,50")
    assert field_message(page.text, "amount_received") == \
        "Amount received: this is not an amount. Write it like 1,500.00 or 1500."
    assert api.get("/v1/payments").json["total"] == 0
