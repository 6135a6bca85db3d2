"""Webhooks: Stripe's signature verified by the SDK, events normalized for loket."""

import time

import pytest

from loket.plugin_api import Money, WebhookRejected
from loket_stripe import plugin

from stripe_testkit import webhook_request


def parse(config, request):
    return plugin.loket_gateway_parse_webhook(config=config, request=request)


def delivered(emulator, sink, events, **kwargs):
    """Deliver events over HTTP to the sink and return what it received."""
    url, received = sink
    for event in events:
        responses = emulator.deliver(event, url, **kwargs)
        assert all(r.status_code == 200 for r in responses)
    return received


# -- verification -------------------------------------------------------------------------

def test_paid_checkout_delivered_over_http_becomes_payment_succeeded(
        config, emulator, charged, webhook_sink):
    completed = emulator.pay(charged.gateway_reference)[-1]
    [request] = delivered(emulator, webhook_sink, [completed])
    [event] = parse(config, request)
    assert event.type == "payment.succeeded"
    assert event.event_id == completed["id"]
    assert event.payment_id == "PAY-2025-000001"
    assert event.gateway_reference == charged.gateway_reference
    assert event.amount == Money(15050, "USD")
    assert event.raw_status == "succeeded"
    assert event.details["payment_intent"].startswith("pi_")


def test_tampered_body_is_refused(config, emulator, charged):
    request = webhook_request(emulator, emulator.pay(charged.gateway_reference)[-1])
    tampered = request.body.replace(b'"amount_total": 15050', b'"amount_total": 15')
    assert tampered != request.body
    with pytest.raises(WebhookRejected):
        parse(config, type(request)(tampered, request.headers, request.path,
                                    request.received_at))


def test_stale_signature_is_refused(config, emulator, charged):
    event = emulator.pay(charged.gateway_reference)[-1]
    with pytest.raises(WebhookRejected, match="Timestamp outside the tolerance zone"):
        parse(config, webhook_request(emulator, event, timestamp=int(time.time()) - 301))
    # within the 300 s tolerance it is accepted
    assert parse(config, webhook_request(emulator, event, timestamp=int(time.time()) - 250))


def test_unsigned_webhook_is_refused(config, emulator, charged):
    request = webhook_request(emulator, emulator.pay(charged.gateway_reference)[-1])
    headers = {k: v for k, v in request.headers.items() if k != "stripe-signature"}
    with pytest.raises(WebhookRejected, match="missing Stripe-Signature"):
        parse(config, type(request)(request.body, headers, request.path, request.received_at))


def test_webhook_signed_with_another_secret_is_refused(config, emulator, charged):
    event = emulator.pay(charged.gateway_reference)[-1]
    with pytest.raises(WebhookRejected):
        parse(config, webhook_request(emulator, event, secret="whsec_SomeoneElsesSecret0000"))


# -- payment outcomes ---------------------------------------------------------------------

def test_declined_card_keeps_stripes_message_and_code_verbatim(config, emulator, charged):
    [failed] = emulator.decline(charged.gateway_reference, code="card_declined",
                                message="Your card has insufficient funds.",
                                decline_code="insufficient_funds")
    [event] = parse(config, webhook_request(emulator, failed))
    assert event.type == "payment.failed"
    assert event.failure_message == "Your card has insufficient funds."
    assert event.failure_code == "insufficient_funds"
    assert event.failure_category == "insufficient_funds"
    assert event.payment_id == "PAY-2025-000001"
    [generic] = emulator.decline(charged.gateway_reference)
    [event] = parse(config, webhook_request(emulator, generic))
    assert (event.failure_message, event.failure_code, event.failure_category) == (
        "Your card was declined.", "generic_decline", "declined")


def test_duplicate_checkout_completed_yields_the_same_event_id(
        config, emulator, charged, webhook_sink):
    completed = emulator.pay(charged.gateway_reference)[-1]
    received = delivered(emulator, webhook_sink, [completed], times=3)
    ids = {parse(config, r)[0].event_id for r in received}
    assert len(received) == 3 and ids == {completed["id"]}


def test_out_of_order_deliveries_each_parse_with_their_own_id_and_status(
        config, emulator, charged, webhook_sink):
    """A decline then a successful retry, delivered in reverse: every event parses on its
    own (no state in the plugin); loket's monotonic state machine keeps "succeeded"."""
    declined = emulator.decline(charged.gateway_reference)
    paid = emulator.pay(charged.gateway_reference)
    received = delivered(emulator, webhook_sink, list(reversed(declined + paid)))
    types = [parse(config, r)[0].type for r in received]
    assert types == ["payment.succeeded", "payment.succeeded", "ignored", "payment.failed"]


def test_payment_intent_succeeded_carries_the_payment_id_from_intent_metadata(
        config, emulator, charged):
    emulator.pay(charged.gateway_reference)
    [intent_event] = emulator.events_of("payment_intent.succeeded")
    [event] = parse(config, webhook_request(emulator, intent_event))
    assert event.type == "payment.succeeded"
    assert event.payment_id == "PAY-2025-000001"
    assert event.gateway_reference.startswith("pi_")
    assert event.details["charge"].startswith("ch_")


def test_expired_checkout_becomes_payment_expired(config, emulator, charged):
    [expired] = emulator.expire(charged.gateway_reference)
    [event] = parse(config, webhook_request(emulator, expired))
    assert event.type == "payment.expired"
    assert event.failure_category == "expired"
    assert event.payment_id == "PAY-2025-000001"


def test_delayed_payment_is_pending_until_the_money_arrives(config, emulator, charged):
    [completed] = emulator.pay(charged.gateway_reference, delayed=True)
    assert parse(config, webhook_request(emulator, completed))[0].type == "payment.pending"
    arrived = emulator.settle_delayed(charged.gateway_reference)[-1]
    assert arrived["type"] == "checkout.session.async_payment_succeeded"
    [event] = parse(config, webhook_request(emulator, arrived))
    assert event.type == "payment.succeeded" and event.amount == Money(15050, "USD")


def test_delayed_payment_that_fails(config, emulator, charged):
    emulator.pay(charged.gateway_reference, delayed=True)
    intent_failed, session_failed = emulator.settle_delayed(charged.gateway_reference,
                                                            succeed=False)
    [event] = parse(config, webhook_request(emulator, session_failed))
    assert event.type == "payment.failed" and event.failure_category == "declined"
    [event] = parse(config, webhook_request(emulator, intent_failed))
    assert event.failure_message == "The payment was declined by the bank."


def test_other_events_are_acknowledged_and_ignored(config, emulator, charged):
    charge_succeeded = emulator.pay(charged.gateway_reference)[0]
    assert charge_succeeded["type"] == "charge.succeeded"
    [event] = parse(config, webhook_request(emulator, charge_succeeded))
    assert event.type == "ignored" and event.event_id == charge_succeeded["id"]


# -- refunds ------------------------------------------------------------------------------

def test_refund_events_about_one_refund_collapse_into_one_loket_event(config, emulator,
                                                                        charged):
    from loket.plugin_api import RefundRequest
    emulator.pay(charged.gateway_reference)
    result = plugin.loket_gateway_refund(config=config, request=RefundRequest(
        refund_id="RF-1", payment_id="PAY-2025-000001",
        gateway_reference=charged.gateway_reference, amount=Money(3000, "USD"),
        captured=Money(15050, "USD")))
    created = emulator.events_of("refund.created")[-1]
    charge_refunded = emulator.events_of("charge.refunded")[-1]
    [a] = parse(config, webhook_request(emulator, created))
    [b] = parse(config, webhook_request(emulator, charge_refunded))
    for event in (a, b):
        assert event.type == "payment.refunded"
        assert event.event_id == f"refund:{result.refund_reference}"
        assert event.refund_reference == result.refund_reference
        assert event.amount == Money(3000, "USD")
        assert event.payment_id == "PAY-2025-000001"
    [failed] = emulator.fail_refund(result.refund_reference)
    [event] = parse(config, webhook_request(emulator, failed))
    assert event.type == "ignored" and event.raw_status == "refund failed"
    assert event.refund_reference == result.refund_reference


# -- settlement ---------------------------------------------------------------------------

def test_payout_paid_settles_each_payment_with_fee_and_net(config, emulator, webhook_sink):
    from stripe_testkit import checkout_request
    sessions = [plugin.loket_gateway_charge(
        config=config, request=checkout_request(payment_id=f"PAY-{n}", amounts=(amount,)))
        for n, amount in ((1, 10000), (2, 2500))]
    for session in sessions:
        emulator.pay(session.gateway_reference)
    emulator.max_page_size = 1  # the plugin must follow Stripe's pagination
    created, paid = emulator.payout()
    [request] = delivered(emulator, webhook_sink, [paid])
    events = parse(config, request)
    assert [e.type for e in events] == ["payment.settled", "payment.settled"]
    by_payment = {e.payment_id: e for e in events}
    assert set(by_payment) == {"PAY-1", "PAY-2"}
    first = by_payment["PAY-1"]
    assert first.amount == Money(10000, "USD")
    assert first.details["fee"] == 320 and first.details["net"] == 9680  # 2.9% + 0.30
    assert by_payment["PAY-2"].details == {**by_payment["PAY-2"].details,
                                           "fee": 103, "net": 2397}
    assert first.payout_reference == paid["data"]["object"]["id"]
    assert first.event_id == f"{paid['id']}:PAY-1"
    assert first.details["processing_days"] == 0
    assert plugin.loket_gateway_map_status(config=config, raw_status=first.raw_status
                                           ).settlement_status == "Success"
    assert parse(config, webhook_request(emulator, created))[0].type == "ignored"


def test_payout_failed_becomes_settlement_failed(config, emulator, charged):
    emulator.pay(charged.gateway_reference)
    _, failed = emulator.payout(status="failed")
    [event] = parse(config, webhook_request(emulator, failed))
    assert event.type == "settlement.failed"
    assert event.failure_code == "account_closed"
    assert event.payout_reference == failed["data"]["object"]["id"]
    mapping = plugin.loket_gateway_map_status(config=config, raw_status=event.raw_status)
    assert (mapping.internal, mapping.settlement_status) == (None, "Failed")
