"""The connect test transaction as the core runs it, at plugin level: charge the minimum,
the payer pays, the webhook confirms it, the payment is refunded."""

import attrs

from loket.plugin_api import Money, RefundRequest
from loket_stripe import plugin
from loket_stripe.testing.kit import checkout_request, make_config, webhook_request


def test_connect_round_trip_with_the_minimum_charge(emulator):
    config = make_config(emulator, currency="JPY")
    minimum = plugin.loket_gateway_describe().minimum_charge["JPY"]
    amount = max(1, minimum.amount)  # 1 yen is below Stripe's minimum: the core charges 50
    request = attrs.evolve(checkout_request(payment_id="CONNECT-1", currency="JPY",
                                            amounts=(amount,)), is_test=True)
    session = plugin.loket_gateway_charge(config=config, request=request)
    assert session.raw["metadata"]["loket_test_payment"] == "true"
    completed = emulator.pay(session.gateway_reference)[-1]
    [event] = plugin.loket_gateway_parse_webhook(config=config,
                                                 request=webhook_request(emulator, completed))
    assert (event.type, event.amount, event.payment_id) == (
        "payment.succeeded", Money(50, "JPY"), "CONNECT-1")
    result = plugin.loket_gateway_refund(config=config, request=RefundRequest(
        refund_id="CONNECT-1-R", payment_id="CONNECT-1",
        gateway_reference=session.gateway_reference, amount=event.amount,
        captured=event.amount, details=event.details))
    assert result.status == "succeeded"
    charge = emulator.objects[emulator.objects[result.refund_reference]["charge"]]
    assert charge["refunded"] is True
