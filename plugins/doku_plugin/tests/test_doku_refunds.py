"""Refunds: cards online through DOKU, every other channel a manual to-do."""

import json

import attrs
import pytest

from loket.plugin_api import GatewayError, Money, RefundNotPossible, RefundRequest
from loket_doku import plugin
from loket_doku.checkout import invoice_for, request_id_for, scope
from loket_doku.refunds import refund_request_id
from loket_doku.testing.kit import charge_unscoped, make_request


def paid(config, doku, payment_id, how="card", rupiah=200_000):
    session = plugin.loket_gateway_charge(config=config,
                                          request=make_request(payment_id, rupiah))
    {"card": doku.pay_card, "va": doku.pay_va, "o2o": doku.pay_o2o}[how](payment_id)
    return plugin.loket_gateway_fetch_status(config=config, payment_id=payment_id,
                                             gateway_reference=session.gateway_reference)


def refund(config, event, rupiah, refund_id="RF-1", details=None):
    request = RefundRequest(
        refund_id=refund_id, payment_id=event.payment_id,
        gateway_reference=event.gateway_reference, amount=Money(rupiah * 100, "IDR"),
        captured=event.amount, details=event.details if details is None else details)
    return plugin.loket_gateway_refund(config=config, request=request)


def test_card_refund_goes_through_dokus_refund_api(config, doku):
    event = paid(config, doku, "PAY-2024-000300")
    result = refund(config, event, 200_000)
    doku_refund_id = doku.orders["PAY-2024-000300"]["refunds"][-1]["id"]
    assert result.status == "succeeded" and result.refund_reference == doku_refund_id
    assert doku.log[-1]["headers"]["request-id"] == refund_request_id(config, "RF-1") == \
        f"{scope(config)}-refund-RF-1"
    sent = json.loads(doku.log[-1]["body"])
    assert doku.log[-1]["path"] == "/cancellation/credit-card/refund"
    invoice = invoice_for(config, "PAY-2024-000300")
    assert sent == {"order": {"invoice_number": invoice},
                    "payment": {"original_request_id": request_id_for(config,
                                                                      "PAY-2024-000300")},
                    "refund": {"amount": 200000}}
    after = plugin.loket_gateway_fetch_status(config=config, payment_id="PAY-2024-000300",
                                              gateway_reference=invoice)
    assert after.type == "payment.refunded" and after.amount == Money(20_000_000, "IDR")
    assert after.refund_reference == result.refund_reference  # the core matches the two


def test_partial_refunds_and_a_retried_refund_are_counted_once(config, doku):
    event = paid(config, doku, "PAY-2024-000301")
    first = refund(config, event, 50_000, refund_id="RF-A")
    again = refund(config, event, 50_000, refund_id="RF-A")
    assert doku.log[-1]["status"] == 409 and again.raw["replayed"] is True
    assert again.refund_reference == first.refund_reference
    refund(config, event, 30_000, refund_id="RF-B")
    assert doku.orders["PAY-2024-000301"]["refunded"] == 80_000


def test_a_refund_id_reused_for_another_amount_is_refused_not_pending(config, doku):
    event = paid(config, doku, "PAY-2024-000305")
    refund(config, event, 50_000, refund_id="RF-A")
    with pytest.raises(RefundNotPossible) as caught:
        refund(config, event, 60_000, refund_id="RF-A")
    assert doku.log[-1]["status"] == 409
    assert caught.value.gateway_code == "duplicate_request_id"
    assert "already used" in caught.value.gateway_message
    assert doku.orders["PAY-2024-000305"]["refunded"] == 50_000


def test_a_refund_doku_refuses_is_refund_not_possible_with_its_words(config, doku):
    event = paid(config, doku, "PAY-2024-000306")
    refund(config, event, 150_000, refund_id="RF-A")
    with pytest.raises(RefundNotPossible) as caught:  # only Rp 50,000 is left at DOKU
        refund(config, event, 100_000, refund_id="RF-B")
    assert caught.value.gateway_message == "refund.amount must be 1-50000"
    assert caught.value.gateway_code == "invalid_parameter"


def test_a_refund_the_acquirer_fails_is_raised_never_returned_failed(config, doku):
    event = paid(config, doku, "PAY-2024-000307")
    doku.script_refund("FAILED", message="REFUND REJECTED BY ISSUER", code="R5")
    with pytest.raises(RefundNotPossible) as caught:
        refund(config, event, 10_000)
    assert (caught.value.gateway_message, caught.value.gateway_code) == \
        ("REFUND REJECTED BY ISSUER", "R5")


def test_a_pending_refund_is_pending_and_an_unreadable_answer_is_an_error(config, doku):
    event = paid(config, doku, "PAY-2024-000308")
    doku.script_refund("PENDING")
    assert refund(config, event, 10_000, refund_id="RF-A").status == "pending"
    doku.script_refund(None)
    with pytest.raises(GatewayError, match="without a status"):
        refund(config, event, 10_000, refund_id="RF-B")


def test_refund_of_more_than_was_paid_is_refused(config, doku):
    event = paid(config, doku, "PAY-2024-000302")
    with pytest.raises(RefundNotPossible):
        refund(config, event, 200_001)


@pytest.mark.parametrize("how,channel", [("va", "VIRTUAL_ACCOUNT_BCA"),
                                         ("o2o", "ONLINE_TO_OFFLINE_ALFA")])
def test_other_channels_must_be_refunded_manually(config, doku, how, channel):
    event = paid(config, doku, f"PAY-2024-0003{how}", how=how)
    with pytest.raises(RefundNotPossible) as caught:
        refund(config, event, 1_000)
    assert "refund must be made manually" in caught.value.detail
    assert channel in caught.value.detail
    assert caught.value.gateway_code == "manual_refund_required"
    assert all(entry["path"] != "/cancellation/credit-card/refund" for entry in doku.log)


def test_without_channel_details_the_plugin_asks_doku(config, doku):
    event = paid(config, doku, "PAY-2024-000304", how="va")
    with pytest.raises(RefundNotPossible, match="VIRTUAL_ACCOUNT_BCA"):
        refund(config, event, 1_000, details={})
    assert doku.log[-1]["path"] == f"/orders/v1/status/{event.gateway_reference}"


def test_connect_test_payment_by_card_is_refunded_online(config, doku, receiver):
    minimum = plugin.loket_gateway_describe().minimum_charge["IDR"]
    request = attrs.evolve(make_request("PAY-CONNECT-2"), amount=minimum,
                           items=(), is_test=True)
    plugin.loket_gateway_charge(config=config, request=request)
    doku.pay_card("PAY-CONNECT-2")
    doku.deliver("PAY-CONNECT-2")
    (succeeded,) = receiver.applied.values()
    assert succeeded.amount == minimum
    result = refund(config, succeeded, minimum.amount // 100, refund_id="RF-CONNECT")
    assert result.status == "succeeded"


def test_refund_request_ids_are_scoped_like_the_checkouts(config):
    ours = attrs.evolve(config, installation_id="a" * 32)
    scopes = (ours, attrs.evolve(config, installation_id="b" * 32),
              attrs.evolve(ours, tenant_id=2), attrs.evolve(ours, id=2))
    assert len({refund_request_id(c, "RF-1") for c in scopes}) == len(scopes)


def test_a_card_payment_from_before_scoped_invoices_is_refunded_online(config, doku):
    session = charge_unscoped(config, make_request("PAY-2023-000300", 200_000))
    doku.pay_card("PAY-2023-000300")
    event = plugin.loket_gateway_fetch_status(config=config, payment_id="PAY-2023-000300",
                                              gateway_reference=session.gateway_reference)
    request = RefundRequest(refund_id="RF-OLD", payment_id="PAY-2023-000300",
                            gateway_reference=session.gateway_reference,
                            amount=Money(5_000_000, "IDR"), captured=event.amount,
                            details={"service": "CREDIT_CARD", "channel": "CREDIT_CARD"})
    assert plugin.loket_gateway_refund(config=config, request=request).status == "succeeded"
    sent = json.loads(doku.log[-1]["body"])
    assert (sent["order"], sent["payment"]) == (
        {"invoice_number": "PAY-2023-000300"},
        {"original_request_id": "loket-pay-PAY-2023-000300"})
    assert doku.orders["PAY-2023-000300"]["refunded"] == 50_000
