"""Refunds: cards online through DOKU, every other channel a manual to-do."""

import json

import attrs
import pytest

from doku_testkit import make_request
from loket.plugin_api import Money, RefundNotPossible, RefundRequest
from loket_doku import plugin


def paid(config, doku, payment_id, how="card", rupiah=200_000):
    plugin.loket_gateway_charge(config=config, request=make_request(payment_id, rupiah))
    {"card": doku.pay_card, "va": doku.pay_va, "o2o": doku.pay_o2o}[how](payment_id)
    return plugin.loket_gateway_fetch_status(config=config, payment_id=payment_id,
                                             gateway_reference=payment_id)


def refund(config, event, rupiah, refund_id="RF-1", details=None):
    request = RefundRequest(
        refund_id=refund_id, payment_id=event.payment_id,
        gateway_reference=event.gateway_reference, amount=Money(rupiah * 100, "IDR"),
        captured=event.amount, details=event.details if details is None else details)
    return plugin.loket_gateway_refund(config=config, request=request)


def test_card_refund_goes_through_dokus_refund_api(config, doku):
    event = paid(config, doku, "PAY-2024-000300")
    result = refund(config, event, 200_000)
    assert result.status == "succeeded" and result.refund_reference == "loket-refund-RF-1"
    sent = json.loads(doku.log[-1]["body"])
    assert doku.log[-1]["path"] == "/cancellation/credit-card/refund"
    assert sent == {"order": {"invoice_number": "PAY-2024-000300"},
                    "payment": {"original_request_id": "loket-pay-PAY-2024-000300"},
                    "refund": {"amount": 200000}}
    after = plugin.loket_gateway_fetch_status(config=config, payment_id="PAY-2024-000300",
                                              gateway_reference="PAY-2024-000300")
    assert after.type == "payment.refunded" and after.amount == Money(20_000_000, "IDR")


def test_partial_refunds_and_a_retried_refund_are_counted_once(config, doku):
    event = paid(config, doku, "PAY-2024-000301")
    refund(config, event, 50_000, refund_id="RF-A")
    again = refund(config, event, 50_000, refund_id="RF-A")
    assert doku.log[-1]["status"] == 409 and again.raw["replayed"] is True
    refund(config, event, 30_000, refund_id="RF-B")
    assert doku.orders["PAY-2024-000301"]["refunded"] == 80_000


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
    assert doku.log[-1]["path"] == "/orders/v1/status/PAY-2024-000304"


def test_connect_test_payment_by_card_is_refunded_online(config, doku, receiver):
    minimum = plugin.loket_gateway_describe().minimum_charge["IDR"]
    request = attrs.evolve(make_request("PAY-CONNECT-2"), amount=Money(minimum, "IDR"),
                           items=(), is_test=True)
    plugin.loket_gateway_charge(config=config, request=request)
    doku.pay_card("PAY-CONNECT-2")
    doku.deliver("PAY-CONNECT-2")
    (succeeded,) = receiver.applied.values()
    assert succeeded.amount == Money(minimum, "IDR")
    assert refund(config, succeeded, minimum // 100, refund_id="RF-CONNECT").status == "succeeded"
