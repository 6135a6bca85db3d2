"""A payer's page says a refused payment in the payer's language, its amounts written the
page's way: the payment link's form, the consumer's bills and the guest's bills; what a
gateway says keeps its own words."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from support.console import Person, text_of

from loket.errors import GatewayError, ValidationFailed
from loket.web.refusals import refusal


def alert(html: str) -> str:
    """The text of the page's one alert."""
    found = re.findall(r'role="alert"[^>]*>(.*?)</p>', html, re.S)
    assert len(found) == 1, found
    return text_of(found[0])


def partial_link(api) -> str:
    made = api.post("/v1/payment-links", {
        "account_number": "WU-10001", "amount_policy": "partial",
        "items": [{"kind": "bill", "reference": "INV-2025-001234"}]}, role="billing_manager")
    assert made.status_code == 201, made.text
    return urlsplit(made.json["url"]).path


def test_more_than_is_owed_on_a_link_is_said_in_the_payers_language(connected_api):
    api = connected_api
    path = partial_link(api)
    for language, typed, said in (
            ("id", "200,00", "Jumlahnya melebihi tagihan sebesar US$145,50."),
            ("en", "200.00", "The amount is more than the $145.50 owed.")):
        payer = Person(client=api.client, accept_language=language)
        payer.get(path)
        refused = payer.post(path, {"amount": typed, "gateway": "sandbox"}, csrf=False)
        assert refused.status_code == 422
        assert refused.headers["content-type"].startswith("text/html")
        assert alert(refused.text) == said
    assert api.get("/v1/payments").json["total"] == 0


def test_a_consumer_choosing_a_way_to_pay_that_is_gone_reads_it_in_indonesian(connected_api):
    api = connected_api
    assert api.put("/v1/settings", {"locale": "id_ID"}).status_code == 200
    consumer = Person(client=api.client)
    consumer.follow(consumer.sign_in(api.consumer_token))
    refused = consumer.post("/console/bills/pay", {"item": "bill:INV-2025-001234",
                                                   "gateway": "doku"})
    assert refused.status_code == 422
    assert alert(refused.text) == "Cara bayar ini sedang tidak tersedia; pilih cara lain."
    assert 'href="/console/my-payments"' in refused.text  # on the bills page, nav and all


def test_a_guest_choosing_a_way_to_pay_that_is_gone_reads_it_in_indonesian(connected_api):
    api = connected_api
    assert api.put("/v1/settings", {"locale": "id_ID", "guest": {"enabled": True}}
                   ).status_code == 200
    guest = Person(client=api.client, accept_language="id")
    guest.get("/guest/t1")
    guest.follow(guest.post("/guest/t1", {"account_number": "WU-10001", "name": "John Doe",
                                          "last_bill_amount": "152,25"}))
    refused = guest.post("/guest/t1/bills", [("item", "bill:INV-2025-001234"),
                                             ("payer_name", "Ned"), ("gateway", "doku")])
    assert refused.status_code == 422
    assert alert(refused.text) == "Cara bayar ini sedang tidak tersedia; pilih cara lain."
    nothing = guest.post("/guest/t1/bills", [("payer_name", "Ned"), ("gateway", "sandbox")])
    assert nothing.status_code == 422
    assert alert(nothing.text) == "Pilih setidaknya satu tagihan untuk dibayar."


def test_a_gateways_words_stay_its_own_and_unknown_words_are_marked_english():
    failed = GatewayError("Kartu ditolak oleh penerbit (kode 05)")
    assert refusal(failed, "id_ID", "IDR") == "Kartu ditolak oleh penerbit (kode 05)"
    odd = refusal(ValidationFailed("the moon is in the wrong phase"), "id_ID", "IDR")
    assert str(odd) == '<span lang="en">the moon is in the wrong phase</span>'
