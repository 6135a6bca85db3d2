"""Stripe disputes normalized for loket: ``charge.dispute.created|updated|closed`` become the
contract's dispute events naming the dispute, found through the PaymentIntent's metadata;
an inquiry closed without a chargeback is withdrawn; another configuration's are ignored."""

from loket.plugin_api import Money
from loket_stripe import plugin
from loket_stripe.testing.kit import checkout_request, make_config, webhook_request


def parsed(emulator, config, event):
    """What the plugin makes of Stripe's signed delivery of ``event``."""
    return plugin.loket_gateway_parse_webhook(config=config, request=webhook_request(
        emulator, event))


def test_a_dispute_is_opened_reviewed_and_lost(config, emulator, charged):
    parse = lambda config, event: parsed(emulator, config, event)  # noqa: E731
    emulator.pay(charged.gateway_reference)
    created, withdrawn = emulator.dispute(charged.gateway_reference, amount=5000)
    [opened] = parse(config, created)
    assert (opened.type, opened.payment_id, opened.amount, opened.raw_status) == (
        "dispute.opened", "PAY-2025-000001", Money(5000, "USD"), "needs_response")
    assert opened.dispute_reference == created["data"]["object"]["id"]
    assert opened.details["reason"] == "fraudulent"
    assert [e.type for e in parse(config, withdrawn)] == ["ignored"]  # funds withdrawn
    [review] = emulator.review_dispute(opened.dispute_reference)
    assert [e.type for e in parse(config, review)] == ["dispute.under_review"]
    [closed] = emulator.close_dispute(opened.dispute_reference, "lost")
    [lost] = parse(config, closed)
    assert (lost.type, lost.event_id, lost.dispute_reference) == (
        "dispute.lost", closed["id"], opened.dispute_reference)


def test_an_inquiry_closed_is_withdrawn_and_a_won_dispute_is_won(config, emulator, charged):
    parse = lambda config, event: parsed(emulator, config, event)  # noqa: E731
    emulator.pay(charged.gateway_reference)
    [inquiry] = emulator.dispute(charged.gateway_reference, inquiry=True, reason="general")
    reference = inquiry["data"]["object"]["id"]
    assert parse(config, inquiry)[0].raw_status == "warning_needs_response"
    [closed] = emulator.close_dispute(reference, "warning_closed")
    assert [e.type for e in parse(config, closed)] == ["dispute.withdrawn"]
    created, _ = emulator.dispute(charged.gateway_reference)
    *reinstated, won = emulator.close_dispute(created["data"]["object"]["id"], "won")
    assert [e.type for e in parse(config, won)] == ["dispute.won"]
    assert [e.type for e in parse(config, reinstated[0])] == ["ignored"]


def test_another_configurations_dispute_is_ignored(config, emulator, charged):
    parse = lambda config, event: parsed(emulator, config, event)  # noqa: E731
    theirs = make_config(emulator, tenant_id=8, id=2)
    other = plugin.loket_gateway_charge(config=theirs, request=checkout_request(
        payment_id="PAY-2025-000777"))
    emulator.pay(other.gateway_reference)
    created, _ = emulator.dispute(other.gateway_reference)
    [event] = parse(config, created)
    assert event.type == "ignored"
    assert parse(theirs, created)[0].payment_id == "PAY-2025-000777"
