"""Notifications over real HTTP: verification, normalization, retries and duplicates."""

import json
from urllib.parse import urlsplit

import pytest

from loket.plugin_api import Money, WebhookRejected
from loket_doku import plugin
from loket_doku.checkout import request_id_for
from loket_doku.testing.kit import (
    WEBHOOK_PATH,
    charge_unscoped,
    make_config,
    make_request,
    webhook_from,
)


@pytest.fixture
def invoice(config):
    """The DOKU invoice of payment PAY-2024-000100 (its gateway reference)."""
    return plugin.loket_gateway_charge(
        config=config, request=make_request("PAY-2024-000100", 250_000)).gateway_reference


def parse(config, headers, body, path=WEBHOOK_PATH):
    return plugin.loket_gateway_parse_webhook(config=config,
                                              request=webhook_from(headers, body, path))


def test_va_payment_notification_becomes_payment_succeeded(config, doku, receiver, invoice):
    doku.pay_va(invoice, bank="BCA")
    assert doku.deliver(invoice) == [200]  # to the override_notification_url set at checkout
    (event,) = receiver.applied.values()
    assert event.type == "payment.succeeded" and event.raw_status == "SUCCESS"
    assert (event.payment_id, event.gateway_reference) == ("PAY-2024-000100", invoice)
    assert event.amount == Money(25_000_000, "IDR")
    assert event.details["channel"] == "VIRTUAL_ACCOUNT_BCA"
    assert event.details["service"] == "VIRTUAL_ACCOUNT"
    assert event.details["va_number"] == doku.status_body(invoice)["virtual_account_info"][
        "virtual_account_number"]
    assert event.details["original_request_id"] == request_id_for(config, "PAY-2024-000100")
    assert event.occurred_at is not None


def test_convenience_store_payment_carries_the_payment_code(config, doku, receiver, invoice):
    doku.pay_o2o(invoice, store="ALFA")
    doku.deliver(invoice)
    (event,) = receiver.applied.values()
    assert event.details["channel"] == "ONLINE_TO_OFFLINE_ALFA"
    assert event.details["payment_code"] == doku.status_body(invoice)["online_to_offline_info"][
        "payment_code"]


def test_declined_card_keeps_the_checkout_open_with_dokus_words(config, doku, receiver,
                                                                invoice):
    doku.decline_card(invoice, message="DO NOT HONOR", code="05")
    doku.deliver(invoice)
    (declined,) = receiver.applied.values()
    assert declined.type == "payment.pending" and declined.raw_status == "FAILED"
    assert (declined.failure_message, declined.failure_code, declined.failure_category) == \
        ("DO NOT HONOR", "05", "declined")
    doku.pay_card(invoice)  # the payer tries again on the same DOKU checkout
    doku.deliver(invoice)
    assert [e.type for e in receiver.applied.values()] == ["payment.pending",
                                                           "payment.succeeded"]


def test_declined_card_is_final_when_retries_are_disabled(doku, receiver):
    closed = make_config(doku, receiver.url, options={"disable_retry_payment": True})
    receiver.config = closed
    plugin.loket_gateway_charge(config=closed, request=make_request("PAY-2024-000110"))
    doku.decline_card("PAY-2024-000110", message="INSUFFICIENT FUNDS", code="51")
    doku.deliver("PAY-2024-000110")
    (event,) = receiver.applied.values()
    assert event.type == "payment.failed" and event.raw_status == "FAILED"
    assert (event.failure_message, event.failure_code, event.failure_category) == \
        ("INSUFFICIENT FUNDS", "51", "insufficient_funds")
    with pytest.raises(ValueError):
        doku.pay_card("PAY-2024-000110")  # DOKU does not let the payer try again


@pytest.mark.parametrize("amount", [None, "", "n/a", 0])
def test_paid_notification_without_a_readable_amount_is_refused(config, doku, invoice,
                                                                 amount):
    order = {"invoice_number": invoice}
    if amount is not None:
        order["amount"] = amount
    body = {"order": order, "transaction": {"status": "SUCCESS", "original_request_id": "r"}}
    with pytest.raises(WebhookRejected, match="cannot be read"):
        parse(config, *doku.notification(invoice, WEBHOOK_PATH, body=body))


def test_refunded_notification_without_a_refund_block_still_names_a_refund(config, doku,
                                                                           invoice):
    body = {"order": {"invoice_number": invoice, "amount": 250000},
            "transaction": {"status": "REFUNDED", "original_request_id": "loket-pay-x"}}
    (event,) = parse(config, *doku.notification(invoice, WEBHOOK_PATH, body=body))
    assert event.type == "payment.refunded" and event.amount is None
    assert event.refund_reference == "loket-pay-x"


def test_a_failed_notification_is_retried_on_dokus_schedule(config, doku, receiver, invoice):
    """The emulator's retry schedule (+30 min, +6 h, +12 h). That loket applies such a
    notification once is shown end to end in tests/test_e2e_doku.py."""
    doku.pay_va(invoice)
    receiver.fail_first = 3  # the receiver is down for the first attempt and two retries
    assert doku.deliver(invoice) == [503, 503, 503, 200]
    assert [d["retry"] for d in doku.deliveries] == ["", "+30m", "+6h", "+12h"]


def test_duplicates_and_out_of_order_redeliveries_share_one_event_id(config, doku, receiver,
                                                                     invoice):
    doku.pay_card(invoice)
    assert doku.deliver(invoice, duplicates=2) == [200, 200, 200]
    assert doku.redeliver(0) == 200
    ids = {e.event_id for status, events in receiver.received for e in events}
    assert len(ids) == 1 and len(receiver.applied) == 1


def test_event_id_does_not_depend_on_request_id_or_timestamp(config, doku, invoice):
    doku.pay_va(invoice)
    first = parse(config, *doku.notification(invoice, WEBHOOK_PATH, request_id="retry-a"))
    second = parse(config, *doku.notification(invoice, WEBHOOK_PATH, request_id="retry-b"))
    assert first[0].event_id == second[0].event_id


def test_wrong_signature_is_refused_and_doku_keeps_retrying(config, doku, receiver, invoice):
    doku.pay_va(invoice)
    statuses = doku.deliver(invoice, secret="SK-attackerKey0000000")
    assert statuses == [400, 400, 400, 400]
    assert receiver.applied == {}


def test_signature_must_cover_lokets_own_notification_path(config, doku, invoice):
    doku.pay_va(invoice)
    headers, body = doku.notification(invoice, "/payments/notifications")
    with pytest.raises(WebhookRejected, match="signature"):
        parse(config, headers, body)


def test_behind_a_base_url_path_doku_signs_the_full_notification_path(doku, receiver):
    """With ``LOKET_BASE_URL=https://host/loket`` loket gives DOKU a notification URL under
    ``/loket``, and DOKU signs that whole path as the Request-Target."""
    prefixed = make_config(doku, receiver.url + "/loket")
    receiver.config = prefixed
    assert urlsplit(prefixed.webhook_url).path == "/loket" + WEBHOOK_PATH
    session = plugin.loket_gateway_charge(config=prefixed,
                                          request=make_request("PAY-2024-000120"))
    doku.pay_va(session.gateway_reference)
    assert doku.deliver(session.gateway_reference) == [200]
    (event,) = receiver.applied.values()
    assert (event.type, event.payment_id) == ("payment.succeeded", "PAY-2024-000120")
    for elsewhere in (WEBHOOK_PATH, "/payments/notifications"):
        with pytest.raises(WebhookRejected, match="signature"):
            parse(prefixed, *doku.notification(session.gateway_reference, elsewhere))


def test_a_checkout_from_before_scoped_invoices_is_still_named_by_its_invoice(config, doku,
                                                                              receiver):
    """A payment created before invoices were scoped has the bare payment number as its
    invoice and gateway reference: its notification names it by that reference, which loket
    matches among the configuration's payments (never by number, which a newer payment of
    another installation sharing the merchant may also have)."""
    session = charge_unscoped(config, make_request("PAY-2023-000777"))
    assert session.gateway_reference == "PAY-2023-000777"
    doku.pay_va("PAY-2023-000777")
    assert doku.deliver("PAY-2023-000777") == [200]
    (event,) = receiver.applied.values()
    assert event.type == "payment.succeeded" and event.amount == Money(15_000_000, "IDR")
    assert (event.gateway_reference, event.payment_id) == ("PAY-2023-000777", None)
    assert event.details["original_request_id"] == "loket-pay-PAY-2023-000777"


def test_tampered_body_missing_headers_and_other_client_are_refused(config, doku, invoice):
    doku.pay_va(invoice)
    headers, body = doku.notification(invoice, WEBHOOK_PATH)
    with pytest.raises(WebhookRejected):
        parse(config, headers, body.replace(b"250000", b"999999"))
    with pytest.raises(WebhookRejected, match="signature"):
        parse(config, {k: v for k, v in headers.items() if k != "Signature"}, body)
    doku.add_merchant("BRN-0002-1700000000002", "SK-otherMerchant0001")
    doku.orders[invoice]["client_id"] = "BRN-0002-1700000000002"
    with pytest.raises(WebhookRejected, match="another Client-Id"):
        parse(config, *doku.notification(invoice, WEBHOOK_PATH))


def test_fields_doku_adds_later_are_tolerated(config, doku, invoice):
    doku.pay_va(invoice)
    extra = {"additional_info": {"campaign": "x"}, "shipping_address": {"city": "Bandung"},
             "security": {"risk": "low"}}
    (event,) = parse(config, *doku.notification(invoice, WEBHOOK_PATH, extra=extra))
    assert event.type == "payment.succeeded"


def test_notification_for_an_invoice_loket_does_not_know_is_answered(config, doku, invoice):
    body = {"order": {"invoice_number": "NOT-OURS-1", "amount": 5000},
            "transaction": {"status": "SUCCESS", "original_request_id": "x"}}
    (event,) = parse(config, *doku.notification(invoice, WEBHOOK_PATH, body=body))
    assert (event.type, event.payment_id, event.gateway_reference) == (
        "payment.succeeded", None, "NOT-OURS-1")  # no payment of this configuration
    empty = {"transaction": {"status": "SUCCESS"}}
    (ignored,) = parse(config, *doku.notification(invoice, WEBHOOK_PATH, body=empty))
    assert ignored.type == "ignored"


def test_amount_sent_as_a_decimal_string_is_read_exactly(config, doku, invoice):
    body = {"order": {"invoice_number": invoice, "amount": "250000.00"},
            "transaction": {"status": "SUCCESS", "original_request_id": "r"}}
    headers, raw = doku.notification(invoice, WEBHOOK_PATH, body=body)
    assert json.loads(raw)["order"]["amount"] == "250000.00"
    (event,) = parse(config, headers, raw)
    assert event.amount == Money(25_000_000, "IDR")
