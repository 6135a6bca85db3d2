"""Webhooks: Stripe's signature verified by the SDK, events normalized for loket."""

import datetime as dt
import time

import pytest
import stripe

from loket.plugin_api import Money, RefundRequest, WebhookRejected
from loket_stripe import plugin, webhooks
from loket_stripe.testing.emulator import StripeEmulator
from loket_stripe.testing.kit import checkout_request, make_config, webhook_request


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


@pytest.mark.parametrize("body", [
    [{"id": "evt_1", "type": "payment_intent.succeeded"}],
    {"id": "evt_1", "object": "v2.core.event", "type": "v1.billing.meter.error_report",
     "data": {"object": {}}},
    {"id": "evt_1", "object": "event", "type": "payment_intent.succeeded", "data": {}},
    {"id": "evt_1", "object": "event", "type": "payment_intent.succeeded", "data": "x"},
    {"id": "evt_1", "object": "event", "type": "payment_intent.succeeded",
     "data": {"object": None}},
    {"object": "event", "type": "payment_intent.succeeded", "data": {"object": {}}},
], ids=["a-list", "a-thin-v2-notification", "no-object", "data-not-an-object",
        "a-null-object", "no-id"])
def test_correctly_signed_body_that_is_no_stripe_event_is_refused(config, emulator, body):
    with pytest.raises(WebhookRejected, match="not a Stripe event"):
        parse(config, webhook_request(emulator, body))


def test_a_verified_event_reads_as_the_sdk_reads_it(config, emulator, charged):
    for event in emulator.pay(charged.gateway_reference):
        request = webhook_request(emulator, event)
        sdk = stripe.Webhook.construct_event(request.body, request.headers["stripe-signature"],
                                             config.credentials["webhook_secret"])
        assert webhooks.verify(config, request) == sdk.to_dict(for_json=True)


def test_stale_signature_is_refused(config, emulator, charged):
    event = emulator.pay(charged.gateway_reference)[-1]
    with pytest.raises(WebhookRejected, match="Timestamp outside the tolerance zone"):
        parse(config, webhook_request(emulator, event, timestamp=int(time.time()) - 301))
    # within the 300 s tolerance it is accepted
    assert parse(config, webhook_request(emulator, event, timestamp=int(time.time()) - 250))


def test_signature_dated_in_the_future_is_refused(config, emulator, charged):
    event = emulator.pay(charged.gateway_reference)[-1]
    with pytest.raises(WebhookRejected, match="after the request arrived"):
        parse(config, webhook_request(emulator, event, timestamp=int(time.time()) + 3600))
    # a clock a little ahead (within the 300 s tolerance) is accepted
    assert parse(config, webhook_request(emulator, event, timestamp=int(time.time()) + 250))


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

def test_declined_card_keeps_the_payment_pending_with_stripes_message_verbatim(
        config, emulator, charged):
    """The Checkout stays open after a decline (the payer may try another card), so the
    payment is pending, carrying Stripe's words for the payer."""
    [failed] = emulator.decline(charged.gateway_reference, code="card_declined",
                                message="Your card has insufficient funds.",
                                decline_code="insufficient_funds")
    assert emulator.session(charged.gateway_reference)["status"] == "open"
    [event] = parse(config, webhook_request(emulator, failed))
    assert event.type == "payment.pending"
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
    assert types == ["payment.succeeded", "payment.succeeded", "ignored", "payment.pending"]


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
    emulator.decline(charged.gateway_reference)  # a declined card, then the payer gives up
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
    assert event.payment_id == "PAY-2025-000001"
    [event] = parse(config, webhook_request(emulator, intent_failed))
    assert event.type == "payment.pending"  # the session's event ends the payment
    assert event.failure_message == "The payment was declined by the bank."


def test_other_events_are_acknowledged_and_ignored(config, emulator, charged):
    charge_succeeded = emulator.pay(charged.gateway_reference)[0]
    assert charge_succeeded["type"] == "charge.succeeded"
    [event] = parse(config, webhook_request(emulator, charge_succeeded))
    assert event.type == "ignored" and event.event_id == charge_succeeded["id"]


# -- refunds ------------------------------------------------------------------------------

def test_refund_events_about_one_refund_collapse_into_one_loket_event(config, emulator,
                                                                        charged):
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



def test_a_refund_that_fails_later_becomes_refund_failed(config, emulator, charged):
    emulator.pay(charged.gateway_reference)
    result = plugin.loket_gateway_refund(config=config, request=RefundRequest(
        refund_id="RF-1", payment_id="PAY-2025-000001",
        gateway_reference=charged.gateway_reference, amount=Money(3000, "USD"),
        captured=Money(15050, "USD")))
    [failed] = emulator.fail_refund(result.refund_reference)
    [event] = parse(config, webhook_request(emulator, failed))
    assert event.type == "refund.failed" and event.raw_status == "refund failed"
    assert event.refund_reference == result.refund_reference
    assert event.payment_id == "PAY-2025-000001"
    assert event.failure_code == "expired_or_canceled_card"
    assert event.amount == Money(3000, "USD")
    # refund.updated saying the same is the same loket event
    updated = {**failed, "id": "evt_updated", "type": "refund.updated"}
    [again] = parse(config, webhook_request(emulator, updated))
    assert (again.type, again.event_id) == ("refund.failed", event.event_id)
    canceled = {**failed, "id": "evt_canceled", "type": "refund.updated", "data": {
        "object": {**failed["data"]["object"], "status": "canceled", "failure_reason": None}}}
    assert parse(config, webhook_request(emulator, canceled))[0].type == "refund.failed"


def test_a_refund_made_in_the_stripe_dashboard_names_the_payment(config, emulator, charged):
    """Dashboard refunds carry no loket metadata: the payment comes from the PaymentIntent."""
    emulator.pay(charged.gateway_reference)
    intent = emulator.session(charged.gateway_reference)["payment_intent"]
    refund = dashboard(emulator).v1.refunds.create(params={"payment_intent": intent,
                                                           "amount": 2000})
    assert refund.metadata.to_dict() == {}
    for kind in ("refund.created", "charge.refunded"):
        [event] = parse(config, webhook_request(emulator, emulator.events_of(kind)[-1]))
        assert event.type == "payment.refunded"
        assert event.payment_id == "PAY-2025-000001"
        assert event.refund_reference == refund.id and event.amount == Money(2000, "USD")


# -- settlement ---------------------------------------------------------------------------

def test_payout_paid_settles_each_payment_with_fee_and_net(config, emulator, webhook_sink):
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


def test_payout_failed_fails_the_settlement_of_each_payment_in_it(config, emulator):
    for n, amount in ((1, 10000), (2, 2500)):
        session = plugin.loket_gateway_charge(
            config=config, request=checkout_request(payment_id=f"PAY-{n}", amounts=(amount,)))
        emulator.pay(session.gateway_reference)
    _, failed = emulator.payout(status="failed")
    events = parse(config, webhook_request(emulator, failed))
    assert [e.type for e in events] == ["settlement.failed", "settlement.failed"]
    by_payment = {e.payment_id: e for e in events}
    assert set(by_payment) == {"PAY-1", "PAY-2"}
    first = by_payment["PAY-1"]
    assert first.event_id == f"{failed['id']}:PAY-1"
    assert first.gateway_reference.startswith("pi_") and first.amount == Money(10000, "USD")
    assert first.failure_code == "account_closed"
    assert first.failure_message == "The bank account has been closed."
    assert first.payout_reference == failed["data"]["object"]["id"]
    mapping = plugin.loket_gateway_map_status(config=config, raw_status=first.raw_status)
    assert (mapping.internal, mapping.settlement_status) == (None, "Failed")


def test_payout_paid_in_another_settlement_currency_keeps_the_payment_amount():
    """An IDR tenant on a Singapore account: Stripe converts to SGD. The settled amount is
    the charge in IDR; Stripe's fee and net stay in SGD, with the rate."""
    with StripeEmulator(default_currency="sgd", exchange_rates={"idr": "0.0000852"}) as emu:
        config = make_config(emu, "IDR")
        session = plugin.loket_gateway_charge(config=config, request=checkout_request(
            currency="IDR", amounts=(15_000_000,)))
        emu.pay(session.gateway_reference)
        _, paid = emu.payout()
        [event] = parse(config, webhook_request(emu, paid))
        assert event.type == "payment.settled" and event.payment_id == "PAY-2025-000001"
        assert event.amount == Money(15_000_000, "IDR")
        assert "fee" not in event.details and "net" not in event.details
        assert {k: event.details[k] for k in ("settlement_currency", "settlement_fee",
                                              "settlement_net", "exchange_rate")} == {
            "settlement_currency": "SGD", "settlement_fee": 67, "settlement_net": 1211,
            "exchange_rate": "0.0000852"}
        now = dt.datetime.now(dt.UTC)
        [line] = plugin.loket_gateway_fetch_settlements(
            config=config, since=now - dt.timedelta(hours=1), until=now + dt.timedelta(hours=1))
        assert (line.amount, line.fee, line.net) == (
            Money(15_000_000, "IDR"), Money(67, "SGD"), Money(1211, "SGD"))


# -- two tenants on one Stripe account ----------------------------------------------------

def dashboard(emulator):
    """The account owner acting in Stripe directly (no loket metadata)."""
    return stripe.StripeClient(emulator.secret_key, base_addresses={"api": emulator.url})


def test_another_tenants_events_on_a_shared_account_are_ignored(config, emulator):
    """Tenants 7 and 8 share one Stripe account and both have a PAY-2025-000001. Stripe sends
    every event to both endpoints, correctly signed; each tenant acts only on its own."""
    theirs = make_config(emulator, tenant_id=8, id=2)
    mine = plugin.loket_gateway_charge(config=config, request=checkout_request())
    other = plugin.loket_gateway_charge(config=theirs, request=checkout_request(
        amounts=(7000,)))
    emulator.decline(mine.gateway_reference)
    emulator.pay(mine.gateway_reference)
    emulator.pay(other.gateway_reference)
    plugin.loket_gateway_refund(config=config, request=RefundRequest(
        refund_id="RF-1", payment_id="PAY-2025-000001",
        gateway_reference=mine.gateway_reference, amount=Money(100, "USD"),
        captured=Money(15050, "USD")))
    mine_events = [e for e in emulator.events
                   if e["type"] != "charge.succeeded" and e["type"] != "payout.created"]
    _, paid = emulator.payout()
    checked = set()
    for event in mine_events:
        obj = event["data"]["object"]
        if (obj.get("metadata") or {}).get("loket_tenant_id") == "8":
            continue  # the other tenant's own payment
        [parsed] = parse(theirs, webhook_request(emulator, event))
        assert parsed.type == "ignored", (event["type"], parsed)
        assert parsed.payment_id is None
        checked.add(event["type"])
    assert checked == {"payment_intent.payment_failed", "payment_intent.succeeded",
                       "checkout.session.completed", "refund.created", "charge.refunded"}
    settled_mine = parse(config, webhook_request(emulator, paid))
    settled_theirs = parse(theirs, webhook_request(emulator, paid))
    assert [(e.payment_id, e.amount) for e in settled_mine] == [
        ("PAY-2025-000001", Money(15050, "USD"))]
    assert [(e.payment_id, e.amount) for e in settled_theirs] == [
        ("PAY-2025-000001", Money(7000, "USD"))]
    assert settled_mine[0].gateway_reference != settled_theirs[0].gateway_reference


def test_a_checkout_without_loket_metadata_names_no_payment(config, emulator):
    """A session made outside loket with a look-alike client_reference_id: its events carry
    only Stripe's reference, never a loket payment picked from client_reference_id."""
    session = dashboard(emulator).v1.checkout.sessions.create(params={
        "mode": "payment", "success_url": "https://elsewhere.example/ok",
        "client_reference_id": "PAY-2025-000001", "line_items": [{"quantity": 1,
            "price_data": {"currency": "usd", "unit_amount": 900,
                           "product_data": {"name": "Something else"}}}]})
    for event in emulator.pay(session.id):
        for parsed in parse(config, webhook_request(emulator, event)):
            assert parsed.payment_id is None
