"""Charge: the Checkout request DOKU receives, the payment page, idempotency, refusals."""

import datetime as dt
import json

import attrs
import pytest
import requests

from loket.plugin_api import CheckoutItem, GatewayError, Money
from loket_doku import plugin
from loket_doku.checkout import (
    MAX_INVOICE_LENGTH,
    invoice_for,
    payment_number,
    request_id_for,
    scope_tag,
)
from loket_doku.testing.kit import make_request


def charge(config, request):
    return plugin.loket_gateway_charge(config=config, request=request)


def test_charge_sends_a_signed_checkout_and_returns_the_payment_page(config, doku):
    session = charge(config, make_request("PAY-2024-000001", 150_000, minutes=30))
    sent = doku.log[-1]
    assert (sent["method"], sent["path"], sent["status"]) == ("POST", "/checkout/v1/payment", 200)
    assert sent["headers"]["request-id"] == request_id_for(config, "PAY-2024-000001")
    invoice = invoice_for(config, "PAY-2024-000001")
    assert invoice == f"{scope_tag(config)}-PAY-2024-000001"
    body = json.loads(sent["body"])
    assert body["order"] == {
        "invoice_number": invoice, "amount": 150000, "currency": "IDR",
        "callback_url": "https://loket.example/return/PAY-2024-000001",
        "callback_url_cancel": "https://loket.example/cancel/PAY-2024-000001",
        "auto_redirect": True, "disable_retry_payment": False,
        "line_items": [{"id": "INV-2024-05-001", "name": "Water bill May", "quantity": 1,
                        "price": 150000, "category": "bill"}],
    }
    assert body["payment"] == {"payment_due_date": 30}
    assert body["customer"] == {"id": "ACC-1001", "name": "Siti Rahma",
                                "email": "siti@example.com", "phone": "+6281234567890"}
    assert body["additional_info"] == {"override_notification_url": config.webhook_url}
    assert session.gateway_reference == invoice
    assert session.redirect_url.startswith(doku.url + "/checkout/link/")
    page = requests.get(session.redirect_url, timeout=5)
    assert page.status_code == 200 and "PAY-2024-000001" in page.text


def test_retries_can_be_disabled_per_configuration(config, doku):
    closed = attrs.evolve(config, options={**config.options, "disable_retry_payment": True})
    charge(closed, make_request("PAY-2024-000009"))
    assert json.loads(doku.log[-1]["body"])["order"]["disable_retry_payment"] is True


def test_a_request_id_reused_for_another_amount_is_refused_not_replayed(config, doku):
    charge(config, make_request("PAY-2024-000008", 150_000))
    with pytest.raises(GatewayError) as caught:
        charge(config, make_request("PAY-2024-000008", 175_000))
    assert doku.log[-1]["status"] == 409
    assert caught.value.gateway_code == "duplicate_request_id"
    assert "already used" in caught.value.gateway_message


def test_repeating_a_charge_replays_the_same_checkout(config, doku):
    first = charge(config, make_request("PAY-2024-000002"))
    second = charge(config, make_request("PAY-2024-000002"))
    assert doku.log[-1]["status"] == 409
    assert second.redirect_url == first.redirect_url
    assert (first.raw["replayed"], second.raw["replayed"]) == (False, True)
    assert list(doku.orders) == [invoice_for(config, "PAY-2024-000002")]


def test_a_retry_minutes_later_sends_the_same_body_and_replays(config, doku):
    request = make_request("PAY-2024-000010", minutes=60)
    first = charge(config, request)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    from loket_doku.checkout import build_payload
    assert build_payload(config, request, now=later) == build_payload(config, request)
    second = charge(config, request)
    assert doku.log[-1]["status"] == 409 and second.redirect_url == first.redirect_url
    assert json.loads(doku.log[-1]["body"])["payment"] == {"payment_due_date": 60}


def test_a_passed_on_fee_becomes_a_line_item(config, doku):
    bill = CheckoutItem(kind="bill", reference="B-1", description="Water",
                        amount=Money(10_000_000, "IDR"))
    request = attrs.evolve(make_request("PAY-2024-000003", 102_500), items=(bill,))
    charge(config, request)
    items = json.loads(doku.log[-1]["body"])["order"]["line_items"]
    assert [(i["name"], i["price"]) for i in items] == [("Water", 100000), ("Fee", 2500)]


def test_items_that_cannot_add_up_are_left_out(config, doku):
    odd = CheckoutItem(kind="bill", reference="B-2", description="Odd", amount=Money(10_050, "IDR"))
    charge(config, attrs.evolve(make_request("PAY-2024-000004", 100), items=(odd,)))
    assert "line_items" not in json.loads(doku.log[-1]["body"])["order"]


def test_amount_with_sen_is_refused_before_calling_doku(config, doku):
    request = attrs.evolve(make_request("PAY-2024-000005"), amount=Money(15_000_050, "IDR"))
    with pytest.raises(GatewayError, match="whole rupiah"):
        charge(config, request)
    assert doku.log == []


def test_other_currencies_are_refused(config, doku):
    with pytest.raises(GatewayError, match="IDR only"):
        charge(config, attrs.evolve(make_request("PAY-2024-000006"), amount=Money(1000, "USD")))
    assert doku.log == []


def test_a_number_too_long_for_a_scoped_invoice_gets_a_digest_invoice(config, doku):
    long_number = "PAY-" + "9" * 36  # loket's numbers have at most 40 characters
    session = charge(config, make_request(long_number))
    invoice = json.loads(doku.log[-1]["body"])["order"]["invoice_number"]
    assert session.gateway_reference == invoice == invoice_for(config, long_number)
    assert len(invoice) == MAX_INVOICE_LENGTH and invoice.startswith(scope_tag(config))
    assert payment_number(invoice, scope_tag(config)) is None  # found by gateway reference
    assert invoice_for(config, long_number[:-1] + "8") != invoice


def test_due_date_counts_minutes_to_the_payment_timeout(config, doku):
    request = make_request("PAY-2024-000007")
    request = attrs.evolve(request, expires_at=request.created_at + dt.timedelta(hours=24))
    charge(config, request)
    assert json.loads(doku.log[-1]["body"])["payment"]["payment_due_date"] == 1440


def test_doku_refuses_a_wrongly_signed_charge(config, doku):
    wrong = attrs.evolve(config, credentials={**config.credentials,
                                              "secret_key": "SK-notTheRightKey0000"})
    with pytest.raises(GatewayError) as caught:
        charge(wrong, make_request("PAY-2024-000008"))
    assert doku.log[-1]["status"] == 400
    assert caught.value.gateway_message == "Invalid Header Signature"
    assert caught.value.gateway_code == "invalid_signature"
    assert doku.orders == {}


def test_connect_test_charge_of_the_minimum_works(config, doku):
    minimum = plugin.loket_gateway_describe().minimum_charge["IDR"]
    request = attrs.evolve(make_request("PAY-CONNECT-1"), amount=minimum,
                           items=(), is_test=True)
    charge(config, request)
    assert json.loads(doku.log[-1]["body"])["order"]["amount"] == 10000


def test_request_ids_and_invoices_are_scoped_by_installation_tenant_and_configuration(config):
    """Installations (a reset database is a new one), tenants and configurations sharing a
    DOKU merchant all number payments PAY-yyyy-seq: their Request-Ids and invoices differ."""
    first = attrs.evolve(config, installation_id="a" * 32)
    scopes = [first, attrs.evolve(config, installation_id="b" * 32),
              attrs.evolve(first, tenant_id=2), attrs.evolve(first, id=2), config]
    request_ids = {request_id_for(c, "PAY-2024-000001") for c in scopes}
    invoices = {invoice_for(c, "PAY-2024-000001") for c in scopes}
    assert len(request_ids) == len(invoices) == len(scopes)
    assert request_id_for(first, "PAY-2024-000001") == f"loket-{'a' * 32}-1-1-pay-PAY-2024-000001"
    assert all(len(i) <= MAX_INVOICE_LENGTH and i.endswith("-PAY-2024-000001")
               for i in invoices)
    assert payment_number(invoice_for(first, "PAY-2024-000001"), scope_tag(first)) == \
        "PAY-2024-000001"
    assert payment_number(invoice_for(first, "PAY-2024-000001"), scope_tag(config)) is None


def test_two_installations_sharing_a_merchant_charge_the_same_number(config, doku, receiver):
    ours = attrs.evolve(config, installation_id="a" * 32)
    theirs = attrs.evolve(config, installation_id="b" * 32)
    mine = charge(ours, make_request("PAY-2024-000020", 150_000))
    other = charge(theirs, make_request("PAY-2024-000020", 175_000))
    assert doku.log[-1]["status"] == 200 and other.raw["replayed"] is False
    assert mine.gateway_reference != other.gateway_reference
    assert mine.redirect_url != other.redirect_url
    doku.pay_va(mine.gateway_reference)
    receiver.config = ours
    assert doku.deliver(mine.gateway_reference) == [200]
    (event,) = receiver.applied.values()
    assert (event.type, event.payment_id, event.gateway_reference, event.amount) == (
        "payment.succeeded", "PAY-2024-000020", mine.gateway_reference,
        Money(15_000_000, "IDR"))
    status = plugin.loket_gateway_fetch_status(config=theirs, payment_id="PAY-2024-000020",
                                               gateway_reference=other.gateway_reference)
    assert status.type == "payment.pending"  # never the other installation's SUCCESS
