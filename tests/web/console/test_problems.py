"""What a console page says for a refusal: a refused field's message under its input, a line
in the page's language at the top; the messages loket has the words for said in that
language with their amounts written its way; any other kept in English and marked so."""

from __future__ import annotations

from loket.errors import Conflict, NotFound, ValidationFailed
from loket.web.console.problems import explain, translated


def test_the_common_messages_are_said_in_the_pages_language_with_its_amounts():
    said = {message: translated(message, "id_ID", "IDR") for message in (
        "amount_received is required", "minimum 'abc' is not a decimal number",
        "amount must be more than zero", "notes are limited to 500 characters",
        "description must be at most 300 characters",
        "credit notes and refunds of payment PAY-1 cannot give back more than it brought "
        "in; at most IDR\xa0150,000.00 is left")}
    assert list(said.values()) == [
        "Isian ini wajib diisi.", "Ini bukan angka.", "Masukkan jumlah di atas nol.",
        "Terlalu panjang: paling banyak 500 karakter.",
        "Terlalu panjang: paling banyak 300 karakter.", "Sisanya paling banyak Rp150.000."]
    assert translated("at most $1,145.50 is left", "en_US", "USD") == \
        "At most $1,145.50 is left."
    assert translated("the moon is made of cheese", "id_ID", "IDR") is None


def test_a_refused_field_goes_under_its_input_and_the_top_says_to_correct_it():
    exc = ValidationFailed("the counter payment is incomplete", errors=[
        {"field": "amount_received", "message": "amount received is required"},
        {"field": "items[0].reference", "message": "an item is chosen twice"},
        {"field": "consumer", "message": "consumer is required"}])
    problem = explain(exc, "id_ID", "USD", ("amount_received", "references"),
                      {"items": "references"})
    assert dict(problem.fields) == {"amount_received": "Isian ini wajib diisi.",
                                    "references": "Ada tagihan yang dipilih dua kali."}
    assert problem.banner == "Perbaiki isian yang ditandai. Isian ini wajib diisi."


def test_what_loket_has_no_words_for_stays_english_marked_so_after_a_translated_lead():
    problem = explain(Conflict("payment link pl_1 is cancelled", field="link"), "id_ID",
                      "USD", ("link",))
    assert problem.fields == {}  # a state that forbids the action is no field to correct
    assert problem.banner == ('Tidak dapat dilakukan sekarang: '
                              '<span lang="en">payment link pl_1 is cancelled</span>')
    unknown = explain(NotFound("no approval 7 <b>"), "en_US", "USD")
    assert unknown.banner == 'Not found: <span lang="en">no approval 7 &lt;b&gt;</span>'
