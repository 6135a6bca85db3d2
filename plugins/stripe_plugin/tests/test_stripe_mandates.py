"""Saved cards when two loket installations share one Stripe account: mandate ids, charge ids
and payment numbers restart in each, so the installation is in every idempotency key and in
the metadata of every object."""

import datetime as dt

from loket.plugin_api import (
    ChargeOutcome,
    Customer,
    MandateChargeRequest,
    MandateEventType,
    MandateSetupRequest,
    Money,
)
from loket_stripe import plugin
from loket_stripe.testing.kit import make_config, webhook_request

A, B = "a" * 32, "b" * 32
MANDATE = "MDT-000001"


def setup(config, mandate_id=MANDATE):
    return plugin.loket_gateway_mandate_setup(config=config, request=MandateSetupRequest(
        mandate_id=mandate_id, currency="USD",
        customer=Customer(account_number="ACC-1001", name="Siti Rahma",
                          email="siti@example.test"),
        return_url=f"https://loket.example/v1/mandate-return/{mandate_id}?result=success",
        cancel_url=f"https://loket.example/v1/mandate-return/{mandate_id}?result=cancel",
        created_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC)))


def mandate_events(emulator, config, events):
    return [e for event in events for e in plugin.loket_gateway_parse_mandate_events(
        config=config, request=webhook_request(emulator, event))]


def saved_card(emulator, config):
    """A payer of ``config``'s saves a card; returns the mandate.active event."""
    events = emulator.save_card(setup(config).gateway_reference)
    [active] = mandate_events(emulator, config, events)
    assert active.type == MandateEventType.ACTIVE
    return active


def charge(config, active, charge_id="autopay-7-1-1"):
    return plugin.loket_gateway_mandate_charge(config=config, request=MandateChargeRequest(
        charge_id=charge_id, payment_id="PAY-2026-000005", amount=Money(5000, "USD"),
        token=active.token, gateway_customer=active.gateway_customer,
        description="Auto-pay bill INV-1", attempt=1))


def test_keys_of_a_configuration_without_installation_id_stay_as_they_were(emulator):
    config = make_config(emulator)
    charge(config, saved_card(emulator, config))
    assert {key for _, key in emulator.idempotency} == {
        "loket-7-customer-MDT-000001", "loket-7-mandate-MDT-000001", "loket-7-autopay-7-1-1"}


def test_keys_and_metadata_carry_the_installation(emulator):
    config = make_config(emulator, installation_id=A)
    started = setup(config)
    result = charge(config, saved_card(emulator, config))
    assert {key for _, key in emulator.idempotency} == {
        f"loket-{A}-7-customer-MDT-000001", f"loket-{A}-7-mandate-MDT-000001",
        f"loket-{A}-7-autopay-7-1-1"}
    session = emulator.objects[started.gateway_reference]
    customer = emulator.objects[session["customer"]]
    intent = emulator.objects[result.gateway_reference]
    for metadata in (session["metadata"], session["_si_data"]["metadata"],
                     customer["metadata"], intent["metadata"]):
        assert metadata["loket_installation_id"] == A
        assert (metadata["loket_tenant_id"], metadata["loket_config_id"]) == ("7", "1")


def test_another_installations_set_up_is_not_ours(emulator):
    """Both installations have a mandate MDT-000001 of tenant 7: each gets its own Customer
    and session, and A's endpoint ignores B's payer saving a card."""
    ours = make_config(emulator, installation_id=A)
    theirs = make_config(emulator, installation_id=B)
    mine, other = setup(ours), setup(theirs)
    assert mine.gateway_reference != other.gateway_reference
    assert emulator.objects[mine.gateway_reference]["customer"] != \
        emulator.objects[other.gateway_reference]["customer"]
    events = emulator.save_card(other.gateway_reference)
    assert mandate_events(emulator, ours, events) == []
    [active] = mandate_events(emulator, theirs, events)
    assert (active.type, active.mandate_id) == (MandateEventType.ACTIVE, MANDATE)
    assert emulator.session(mine.gateway_reference)["status"] == "open"


def test_the_same_charge_id_in_two_installations_charges_each_card_once(emulator):
    ours = make_config(emulator, installation_id=A)
    theirs = make_config(emulator, installation_id=B)
    mine = charge(ours, saved_card(emulator, ours))
    other = charge(theirs, saved_card(emulator, theirs))
    assert (mine.outcome, other.outcome) == (ChargeOutcome.SUCCEEDED, ChargeOutcome.SUCCEEDED)
    assert mine.gateway_reference != other.gateway_reference
    [succeeded] = [e for e in emulator.events_of("payment_intent.succeeded")
                   if e["data"]["object"]["id"] == other.gateway_reference]
    [parsed] = plugin.loket_gateway_parse_webhook(config=ours,
                                                  request=webhook_request(emulator, succeeded))
    assert (parsed.type, parsed.payment_id) == ("ignored", None)
