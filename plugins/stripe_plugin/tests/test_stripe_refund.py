"""Refunds through the refund hook: full, partial, too much, idempotent."""

import pytest

from loket.plugin_api import Money, RefundNotPossible, RefundRequest
from loket_stripe import plugin
from loket_stripe.testing.kit import checkout_request, make_config


def refund(config, charged, amount, refund_id="RF-1", captured=15050, **extra):
    return plugin.loket_gateway_refund(config=config, request=RefundRequest(
        refund_id=refund_id, payment_id="PAY-2025-000001",
        gateway_reference=charged.gateway_reference, amount=Money(amount, "USD"),
        captured=Money(captured, "USD"), **extra))


@pytest.fixture
def paid(config, emulator, charged):
    emulator.pay(charged.gateway_reference)
    return charged


def test_full_refund_succeeds_and_is_tagged_with_loket_ids(config, emulator, paid):
    result = refund(config, paid, 15050)
    assert result.status == "succeeded" and result.refund_reference.startswith("re_")
    stored = emulator.objects[result.refund_reference]
    assert stored["amount"] == 15050 and stored["reason"] == "requested_by_customer"
    assert stored["metadata"] == {"loket_payment_id": "PAY-2025-000001",
                                  "loket_tenant_id": "7", "loket_config_id": "1",
                                  "loket_refund_id": "RF-1"}
    charge = emulator.objects[stored["charge"]]
    assert charge["refunded"] is True


def test_a_refund_carries_the_installation_id(emulator):
    config = make_config(emulator, installation_id="a" * 32)
    charged = plugin.loket_gateway_charge(config=config, request=checkout_request())
    emulator.pay(charged.gateway_reference)
    stored = emulator.objects[refund(config, charged, 3000).refund_reference]
    assert stored["metadata"] == {"loket_payment_id": "PAY-2025-000001",
                                  "loket_tenant_id": "7", "loket_config_id": "1",
                                  "loket_installation_id": "a" * 32,
                                  "loket_refund_id": "RF-1"}


def test_partial_refunds_until_the_amount_is_used_up(config, emulator, paid):
    refund(config, paid, 5000, "RF-1")
    refund(config, paid, 10050, "RF-2")
    with pytest.raises(RefundNotPossible) as caught:
        refund(config, paid, 100, "RF-3")
    assert "already been refunded" in caught.value.gateway_message


def test_more_than_captured_is_refused_before_calling_stripe(config, emulator, paid):
    before = len(emulator.requests_seen)
    with pytest.raises(RefundNotPossible, match="only 150.50 USD was captured"):
        refund(config, paid, 15051)
    assert len(emulator.requests_seen) == before


def test_more_than_is_left_is_refused_with_stripes_message(config, emulator, paid):
    refund(config, paid, 10000, "RF-1")
    with pytest.raises(RefundNotPossible) as caught:
        refund(config, paid, 6000, "RF-2")
    assert caught.value.gateway_message == (
        "Refund amount (6000) is greater than unrefunded amount on charge (5050)")


def test_the_same_refund_id_never_refunds_twice(config, emulator, paid):
    first = refund(config, paid, 1000)
    again = refund(config, paid, 1000)
    assert again.refund_reference == first.refund_reference
    assert len([o for o in emulator.objects.values() if o["object"] == "refund"]) == 1


def test_refund_uses_the_payment_intent_kept_in_details(config, emulator, paid):
    intent = emulator.objects[paid.gateway_reference]["payment_intent"]
    result = refund(config, paid, 500, details={"payment_intent": intent})
    assert emulator.objects[result.refund_reference]["payment_intent"] == intent
    assert ("GET", f"/v1/checkout/sessions/{paid.gateway_reference}") not in (
        emulator.requests_seen)


def test_a_refund_stripe_creates_already_failed_is_refused_with_stripes_reason(
        config, emulator, paid):
    """The refund hook never answers "failed": loket records a refusal, not a refund."""
    emulator.refund_failure = "charge_for_pending_refund_disputed"
    with pytest.raises(RefundNotPossible) as caught:
        refund(config, paid, 1000)
    assert caught.value.gateway_message == "charge_for_pending_refund_disputed"
    assert caught.value.gateway_code == "charge_for_pending_refund_disputed"


def test_unpaid_checkout_cannot_be_refunded(config, charged):
    with pytest.raises(RefundNotPossible, match="never paid"):
        refund(config, charged, 500)
