"""The console's credit notes list: its status filter offers every state a note can be in
(from the credit note states) and finds the notes in the chosen one; applying a note reads
the amount as the console writes it."""

from __future__ import annotations

import re

from support.console import signed_in, text_of
from support.forms import field_message

from loket.core.states import CreditNoteStatus


def options(html: str) -> list[str]:
    select = html[html.index('<select id="status"'):]
    return re.findall(r'<option value="([^"]*)"', select[:select.index("</select>")])


def test_the_status_filter_offers_every_credit_note_state_and_finds_the_applied(api):
    paid = api.post("/v1/payments/counter", {
        "account_number": "WU-10001", "payment_type": "bill", "method": "cash",
        "paid_on": "2025-01-15", "amount_received": "150.00",
        "references": ["INV-2025-001234"]})
    assert paid.status_code == 201, paid.text
    used = paid.json["credit_notes"][0]["number"]  # 4.50 over
    applied = api.post(f"/v1/credit-notes/{used}/apply",
                       {"kind": "bill", "reference": "INV-2025-001567"})
    assert applied.status_code == 201, applied.text
    assert api.get(f"/v1/credit-notes/{used}").json["status"] == "applied"
    again = api.post("/v1/payments/counter", {
        "account_number": "WU-10001", "payment_type": "bill", "method": "cash",
        "paid_on": "2025-01-15", "amount_received": "160.00",
        "references": ["INV-2025-001567"]})
    fresh = again.json["credit_notes"][0]["number"]
    person = signed_in(api, "cso_admin")
    listed = person.get("/console/credit-notes")
    assert options(listed.text) == ["", *[s.value for s in CreditNoteStatus]]
    assert '<option value="applied">Applied</option>' in listed.text
    only_applied = person.get("/console/credit-notes", query_string="status=applied")
    assert only_applied.status_code == 200
    assert used in only_applied.text and fresh not in only_applied.text
    assert '<option value="applied" selected>' in only_applied.text
    only_active = person.get("/console/credit-notes", query_string="status=active")
    assert fresh in only_active.text and used not in only_active.text
    unknown = person.get("/console/credit-notes", query_string="status=used")
    assert used in unknown.text and fresh in unknown.text  # no such state: no filter


def test_applying_a_note_reads_the_amount_as_the_console_writes_it(api):
    assert api.put("/v1/settings", {"locale": "id_ID"}).status_code == 200
    paid = api.post("/v1/payments/counter", {
        "account_number": "WU-10001", "payment_type": "bill", "method": "cash",
        "paid_on": "2025-01-15", "amount_received": "150.00",
        "references": ["INV-2025-001234"]})
    note = paid.json["credit_notes"][0]["number"]  # 4.50 over
    person = signed_in(api, "cso_admin")
    page = person.get(f"/console/credit-notes/{note}")
    assert re.search(r'id="amount"[^>]*placeholder="mis\. 1\.500,00"', page.text)
    refused = person.post(f"/console/credit-notes/{note}/apply", {
        "item": "bill:INV-2025-001567", "amount": "1,50.0"})
    assert refused.status_code == 422
    assert field_message(refused.text, "amount") == \
        "Jumlah: ini bukan jumlah uang. Tulis seperti 1.500,00 atau 1500."
    applied = person.post(f"/console/credit-notes/{note}/apply", {
        "item": "bill:INV-2025-001567", "amount": "1,50"})
    assert applied.status_code == 303, text_of(applied.text)
    assert api.get(f"/v1/credit-notes/{note}").json["remaining"]["amount"] == 300
