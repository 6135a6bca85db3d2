"""Two loket installations on one Stripe account (or one whose database was reset): tenant
ids, configuration ids and payment numbers restart from 1 in each, so only the installation
id in a Stripe object's metadata says which installation's payment it is."""

import datetime as dt

import pytest

from loket.plugin_api import Money, RefundRequest
from loket_stripe import plugin, webhooks
from loket_stripe.api import StripeApi
from loket_stripe.ownership import owner_of, payment_id_of
from loket_stripe.testing.kit import checkout_request, make_config, webhook_request

A, B = "a" * 32, "b" * 32
NUMBER = "PAY-2026-000005"


def parse(config, request):
    return plugin.loket_gateway_parse_webhook(config=config, request=request)


def charge(config, amounts=(12050, 3000)):
    return plugin.loket_gateway_charge(config=config,
                                       request=checkout_request(NUMBER, amounts=amounts))


def acted_on(events):
    """What loket would act on: the events that are not ``ignored``."""
    return [(e.type, e.payment_id, e.amount) for e in events if e.type != "ignored"]


@pytest.fixture
def ours(emulator):
    """Installation A's tenant 7, configuration 1."""
    return make_config(emulator, installation_id=A)


@pytest.fixture
def theirs(emulator):
    """Installation B's tenant 7, configuration 1, on the same Stripe account."""
    return make_config(emulator, installation_id=B)


def test_an_object_marked_by_another_installation_is_theirs(emulator, ours):
    marks = {"loket_payment_id": NUMBER, "loket_tenant_id": "7", "loket_config_id": "1"}
    assert owner_of({**marks, "loket_installation_id": A}, ours) == "ours"
    assert owner_of({**marks, "loket_installation_id": B}, ours) == "theirs"
    assert payment_id_of({**marks, "loket_installation_id": B}, ours) is None
    # made before objects were marked with the installation: tenant and configuration decide
    assert payment_id_of(marks, ours) == NUMBER
    assert owner_of({**marks, "loket_tenant_id": "8"}, ours) == "theirs"
    assert owner_of({"loket_installation_id": B}, ours) == "theirs"
    assert owner_of({"loket_account": "ACC-1001"}, ours) == "unknown"
    # loket gave this configuration no installation id: a marked object is another's
    assert owner_of({**marks, "loket_installation_id": A}, make_config(emulator)) == "theirs"


def test_another_installations_paid_checkout_is_ignored(emulator, ours, theirs):
    """B's PAY-2026-000005 is paid; normalized for A's configuration, nothing is A's."""
    charge(ours)
    other = charge(theirs, amounts=(9900,))
    events = emulator.pay(other.gateway_reference)
    assert [e["type"] for e in events] == ["charge.succeeded", "payment_intent.succeeded",
                                           "checkout.session.completed"]
    for event in events:
        [parsed] = webhooks.normalize(event, ours, lambda: StripeApi.for_config(ours))
        assert (parsed.type, parsed.payment_id) == ("ignored", None), event["type"]
    parsed = [e for event in events for e in parse(theirs, webhook_request(emulator, event))]
    assert acted_on(parsed) == [("payment.succeeded", NUMBER, Money(9900, "USD"))] * 2


def test_a_payment_started_before_the_upgrade_still_completes(emulator, ours):
    """Objects made before loket marked its installation carry no installation id: their
    tenant and configuration still make them ours."""
    before = make_config(emulator)  # configuration 1 of tenant 7 before the upgrade
    session = charge(before)
    assert "loket_installation_id" not in emulator.session(session.gateway_reference)[
        "metadata"]
    events = emulator.pay(session.gateway_reference)
    parsed = [e for event in events for e in parse(ours, webhook_request(emulator, event))]
    assert acted_on(parsed) == [("payment.succeeded", NUMBER, Money(15050, "USD"))] * 2
    status = plugin.loket_gateway_fetch_status(config=ours, payment_id=None,
                                               gateway_reference=session.gateway_reference)
    assert (status.type, status.payment_id) == ("payment.succeeded", NUMBER)
    _, paid = emulator.payout()
    [settled] = parse(ours, webhook_request(emulator, paid))
    assert (settled.type, settled.payment_id) == ("payment.settled", NUMBER)


def test_another_installations_events_leave_our_payment_waiting(emulator, ours, theirs,
                                                                 webhook_sink):
    """Stripe sends every event of the account to both endpoints, correctly signed. B's
    payer declines, pays, B refunds part and the payer's bank disputes the rest: A's
    PAY-2026-000005 is still initiated."""
    mine = charge(ours)
    other = charge(theirs, amounts=(9900,))
    first = len(emulator.events)
    emulator.decline(other.gateway_reference)
    emulator.pay(other.gateway_reference)
    plugin.loket_gateway_refund(config=theirs, request=RefundRequest(
        refund_id="RF-1", payment_id=NUMBER, gateway_reference=other.gateway_reference,
        amount=Money(1000, "USD"), captured=Money(9900, "USD")))
    emulator.dispute(other.gateway_reference, amount=8900)
    url, received = webhook_sink
    for event in emulator.events[first:]:
        assert [r.status_code for r in emulator.deliver(event, url)] == [200]
    assert {e["type"] for e in emulator.events[first:]} == {
        "payment_intent.payment_failed", "charge.succeeded", "payment_intent.succeeded",
        "checkout.session.completed", "refund.created", "charge.refunded",
        "charge.dispute.created", "charge.dispute.funds_withdrawn"}
    parsed = [e for request in received for e in parse(ours, request)]
    assert len(parsed) == len(received) == len(emulator.events) - first
    assert acted_on(parsed) == [] and {e.payment_id for e in parsed} == {None}
    # Stripe still has A's checkout open, waiting for A's payer
    status = plugin.loket_gateway_fetch_status(config=ours, payment_id=NUMBER,
                                               gateway_reference=mine.gateway_reference)
    assert status.type == "payment.pending" and status.details["session_status"] == "open"
    paid = [e for event in emulator.pay(mine.gateway_reference)
            for e in parse(ours, webhook_request(emulator, event))]
    assert acted_on(paid) == [("payment.succeeded", NUMBER, Money(15050, "USD"))] * 2


@pytest.mark.parametrize("status, settled", [("paid", "payment.settled"),
                                             ("failed", "settlement.failed")])
def test_a_payout_settles_each_installations_own_payments(emulator, ours, theirs, status,
                                                          settled):
    for config, amounts in ((ours, (12050, 3000)), (theirs, (9900,))):
        emulator.pay(charge(config, amounts).gateway_reference)
    _, payout = emulator.payout(status=status)
    request = webhook_request(emulator, payout)
    assert acted_on(parse(ours, request)) == [(settled, NUMBER, Money(15050, "USD"))]
    assert acted_on(parse(theirs, request)) == [(settled, NUMBER, Money(9900, "USD"))]


def test_settlements_fetched_are_this_installations_own(emulator, ours, theirs):
    for config, amounts in ((ours, (12050, 3000)), (theirs, (9900,))):
        emulator.pay(charge(config, amounts).gateway_reference)
    emulator.payout()
    now = dt.datetime.now(dt.UTC)
    window = dict(since=now - dt.timedelta(hours=1), until=now + dt.timedelta(hours=1))
    for config, amount in ((ours, 15050), (theirs, 9900)):
        lines = plugin.loket_gateway_fetch_settlements(config=config, **window)
        assert [(line.payment_id, line.amount) for line in lines] == [
            (NUMBER, Money(amount, "USD"))]
