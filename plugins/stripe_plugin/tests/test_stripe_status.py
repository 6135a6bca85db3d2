"""Status mapping (the issue's table), fetch status and fetch settlements."""

import datetime as dt

import pytest

from loket.plugin_api import COMPLETED, FAILED, INITIATED, SUCCEEDED, Money
from loket_stripe import plugin
from loket_stripe.testing.kit import checkout_request


@pytest.mark.parametrize("raw, internal, webhook, settlement", [
    ("succeeded", SUCCEEDED, "In Settlement", "In Progress"),
    ("failed", FAILED, "Failed", "N/A"),
    ("pending", INITIATED, "Not Confirmed", "N/A"),
    ("payout created", None, "In Settlement", "In Progress"),
    ("payout paid", COMPLETED, "Settled", "Success"),
    ("payout failed", None, "(keep)", "Failed"),
])
def test_status_table(config, raw, internal, webhook, settlement):
    mapping = plugin.loket_gateway_map_status(config=config, raw_status=raw)
    assert (mapping.internal, mapping.webhook_status, mapping.settlement_status) == (
        internal, webhook, settlement)


def test_unknown_status_changes_nothing(config):
    mapping = plugin.loket_gateway_map_status(config=config, raw_status="mystery")
    assert mapping.internal is None and mapping.webhook_status == "Unknown"


def fetch(config, reference, payment_id="PAY-2025-000001"):
    return plugin.loket_gateway_fetch_status(config=config, payment_id=payment_id,
                                             gateway_reference=reference)


def test_open_checkout_is_pending_even_after_a_decline(config, emulator, charged):
    assert fetch(config, charged.gateway_reference).type == "payment.pending"
    emulator.decline(charged.gateway_reference)
    event = fetch(config, charged.gateway_reference)
    assert event.type == "payment.pending"
    assert event.details["last_error"] == "Your card was declined."
    assert (event.failure_message, event.failure_code, event.failure_category) == (
        "Your card was declined.", "generic_decline", "declined")


def test_paid_checkout_fetches_as_succeeded_with_a_stable_id(config, emulator, charged):
    emulator.pay(charged.gateway_reference)
    event = fetch(config, charged.gateway_reference)
    assert event.type == "payment.succeeded" and event.amount == Money(15050, "USD")
    assert event.payment_id == "PAY-2025-000001"
    assert fetch(config, charged.gateway_reference).event_id == event.event_id


def test_expired_checkout_fetches_as_expired(config, emulator, charged):
    emulator.advance(2 * 3600)  # past the session's expires_at
    event = fetch(config, charged.gateway_reference)
    assert event.type == "payment.expired" and event.failure_category == "expired"


def test_payment_intent_reference_is_understood(config, emulator, charged):
    emulator.decline(charged.gateway_reference, message="Your card has expired.",
                     decline_code="expired_card")
    intent = emulator.objects[charged.gateway_reference]["payment_intent"]
    event = fetch(config, intent, payment_id=None)
    assert event.type == "payment.failed"
    assert event.failure_message == "Your card has expired."
    assert event.payment_id == "PAY-2025-000001"


def test_fetch_settlements_lists_each_paid_out_payment(config, emulator):
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    for n in range(3):
        session = plugin.loket_gateway_charge(
            config=config, request=checkout_request(payment_id=f"PAY-{n}", amounts=(5000,)))
        emulator.pay(session.gateway_reference)
    emulator.payout()
    emulator.max_page_size = 2  # three payments and a payout line: two pages
    until = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    lines = plugin.loket_gateway_fetch_settlements(config=config, since=since, until=until)
    assert sorted(line.payment_id for line in lines) == ["PAY-0", "PAY-1", "PAY-2"]
    line = lines[0]
    assert line.amount == Money(5000, "USD")
    assert line.fee == Money(175, "USD") and line.net == Money(4825, "USD")
    assert line.payout_reference.startswith("po_")
    assert line.gateway_reference.startswith("pi_")
    earlier = plugin.loket_gateway_fetch_settlements(
        config=config, since=since - dt.timedelta(days=2), until=since)
    assert earlier == []
