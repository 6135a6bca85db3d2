"""Charge: one Checkout Session per payment, built from loket's request, idempotent."""

import datetime as dt
from urllib.parse import urlsplit

import pytest
import requests

from loket.plugin_api import CheckoutItem, GatewayError, Money
from loket_stripe import plugin
from loket_stripe.api import StripeApi
from loket_stripe.checkout import expires_at, session_params
from loket_stripe.testing.kit import checkout_request, make_config


def charge(config, **kwargs):
    return plugin.loket_gateway_charge(config=config, request=checkout_request(**kwargs))


def test_session_carries_a_line_item_per_bill_and_the_payment_id(config, emulator, charged):
    assert charged.redirect_url.startswith(f"{emulator.url}/c/pay/cs_test_")
    session = emulator.objects[charged.gateway_reference]
    assert session["mode"] == "payment"
    assert session["amount_total"] == 15050 and session["currency"] == "usd"
    items = session["_line_items"]
    assert [i["price_data"]["product_data"]["name"] for i in items] == [
        "Water bill INV-1", "Water bill INV-2"]
    assert items[0]["price_data"]["product_data"]["description"] == (
        "Bill INV-1 · Period 2025-01")
    assert [i["price_data"]["unit_amount"] for i in items] == ["12050", "3000"]
    assert session["client_reference_id"] == "PAY-2025-000001"
    ours = {"loket_payment_id": "PAY-2025-000001", "loket_tenant_id": "7",
            "loket_config_id": "1"}
    assert session["metadata"] == {**session["metadata"], **ours}
    assert session["_pi_data"]["metadata"] == {**session["_pi_data"]["metadata"], **ours}
    assert session["success_url"] == "https://loket.example/return/PAY-2025-000001?sig=abc"
    assert session["cancel_url"].endswith("&cancel=1")
    assert session["customer_email"] == "siti@example.test"
    assert charged.raw["id"] == charged.gateway_reference


def test_hosted_page_is_reachable_at_the_redirect_url(charged):
    page = requests.get(charged.redirect_url, timeout=5)
    assert page.status_code == 200 and "Water bill INV-2" in page.text


def test_the_same_payment_charged_twice_gives_one_session(config, emulator, charged):
    again = charge(config)
    assert again.gateway_reference == charged.gateway_reference
    assert again.redirect_url == charged.redirect_url
    assert len(emulator.sessions()) == 1
    other = charge(config, payment_id="PAY-2025-000002")
    assert other.gateway_reference != charged.gateway_reference
    assert len(emulator.sessions()) == 2


def test_two_tenants_on_one_stripe_account_never_share_a_session(config, emulator, charged):
    other_tenant = make_config(emulator, tenant_id=8, id=2)
    theirs = charge(other_tenant)
    assert theirs.gateway_reference != charged.gateway_reference


def test_expiry_is_kept_inside_stripes_window(config, emulator):
    now = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
    inside = now + dt.timedelta(hours=2)
    assert expires_at(inside, now) == int(inside.timestamp())
    short = now + dt.timedelta(minutes=5)
    assert expires_at(short, now) == int((short + dt.timedelta(minutes=32)).timestamp())
    assert expires_at(now + dt.timedelta(days=3), now) is None  # Stripe's default: 24 h
    # and Stripe (the emulator checks the window) accepts every case
    for minutes in (1, 120, 3 * 24 * 60):
        session = charge(config, payment_id=f"PAY-EXP-{minutes}", minutes=minutes)
        stored = emulator.session(session.gateway_reference)
        assert 30 * 60 <= stored["expires_at"] - stored["created"] <= 24 * 3600
    long = emulator.session(session.gateway_reference)
    assert long["expires_at"] - long["created"] == 24 * 3600


@pytest.mark.parametrize("minutes", [5, 120, 3 * 24 * 60])
def test_a_retry_minutes_later_sends_the_same_params_and_gets_the_same_session(
        config, emulator, minutes):
    """Stripe refuses an idempotency key reused with other parameters, so the parameters
    must not depend on when the charge is (re)tried."""
    now = int(dt.datetime.now(dt.UTC).timestamp())
    # one minute before a 10-minute boundary, so that a retry crosses it
    created = dt.datetime.fromtimestamp(now - now % 600 + 540, dt.UTC)
    request = checkout_request(payment_id="PAY-RETRY", minutes=minutes)
    request = type(request)(**{**_fields(request),
                               "expires_at": created + dt.timedelta(minutes=minutes)})
    first = session_params(request, created, config)
    retry = session_params(request, created + dt.timedelta(minutes=4, seconds=30), config)
    assert retry == first
    api = StripeApi.for_config(config)
    key = "loket-7-checkout-PAY-RETRY"
    assert api.create_session(retry, key)["id"] == api.create_session(first, key)["id"]
    assert len(emulator.sessions()) == 1


def test_a_charge_retried_gets_its_session_and_a_reused_number_gets_a_new_one(config,
                                                                             emulator):
    """A payment number whose first attempt died before commit is taken by the next
    payment, with other parameters: Stripe would refuse the old key with them."""
    first = charge(config, payment_id="PAY-REUSED", amounts=(12050,))
    again = charge(config, payment_id="PAY-REUSED", amounts=(12050,))
    other = charge(config, payment_id="PAY-REUSED", amounts=(9900,))
    assert again.gateway_reference == first.gateway_reference
    assert other.gateway_reference != first.gateway_reference
    assert emulator.objects[other.gateway_reference]["amount_total"] == 9900
    assert len(emulator.sessions()) == 2


def test_zero_decimal_currency_is_sent_in_whole_units(emulator):
    config = make_config(emulator, currency="JPY")
    session = charge(config, currency="JPY", amounts=(1200, 350))
    stored = emulator.objects[session.gateway_reference]
    assert stored["amount_total"] == 1550 and stored["currency"] == "jpy"


def test_amount_below_stripes_minimum_is_refused_with_a_clear_message(config, emulator):
    with pytest.raises(GatewayError) as caught:
        charge(config, amounts=(1,))
    assert "Stripe's minimum charge in USD is 0.50 USD" in caught.value.detail
    assert not emulator.sessions()


def test_idr_has_a_conservative_minimum_of_ten_thousand_rupiah(emulator):
    config = make_config(emulator, currency="IDR")
    with pytest.raises(GatewayError) as caught:
        charge(config, currency="IDR", amounts=(999_999,))  # Rp 9,999.99
    assert "Stripe's minimum charge in IDR is 10000.00 IDR" in caught.value.detail
    assert not emulator.sessions()
    session = charge(config, currency="IDR", amounts=(1_000_000,))
    assert emulator.session(session.gateway_reference)["amount_total"] == 1_000_000


def test_a_fee_the_items_do_not_cover_becomes_its_own_line(config, emulator):
    request = checkout_request(amounts=(1000,))
    request = type(request)(**{**_fields(request), "amount": Money(1030, "USD")})
    session = plugin.loket_gateway_charge(config=config, request=request)
    items = emulator.objects[session.gateway_reference]["_line_items"]
    assert [i["price_data"]["product_data"]["name"] for i in items] == [
        "Water bill INV-1", "Fee"]
    assert emulator.objects[session.gateway_reference]["amount_total"] == 1030


def test_payment_in_another_currency_than_the_configuration_is_refused(config):
    with pytest.raises(GatewayError) as caught:
        charge(config, currency="EUR")
    assert caught.value.errors[0]["field"] == "currency"


def test_stripe_refusing_the_session_surfaces_its_message(config, emulator):
    emulator.fail_next("POST", "/v1/checkout/sessions", 400,
                       "The Checkout Session's total amount due must add up to at least $0.50")
    with pytest.raises(GatewayError) as caught:
        charge(config)
    assert caught.value.gateway_message == \
        "The Checkout Session's total amount due must add up to at least $0.50"


def test_more_than_100_items_are_refused_before_calling_stripe(config, emulator):
    request = checkout_request()
    items = request.items + (CheckoutItem("bill", "X", "Other", Money(100, "USD")),) * 99
    request = type(request)(**{**_fields(request), "items": items,
                               "amount": Money(15050 + 9900, "USD")})
    with pytest.raises(GatewayError) as caught:  # 101 line items: over Stripe's limit
        plugin.loket_gateway_charge(config=config, request=request)
    assert "at most 100 items" in caught.value.detail


def test_a_revoked_key_fails_the_charge_with_stripes_words(config, emulator):
    emulator.revoke_key(emulator.secret_key)
    with pytest.raises(GatewayError) as caught:
        charge(config)
    assert caught.value.gateway_message.startswith("Invalid API Key provided")


def test_restricted_key_is_used_when_configured(emulator):
    config = make_config(emulator, credentials=emulator.credentials(with_restricted=True))
    emulator.revoke_key(emulator.secret_key)  # only the restricted key still works
    session = charge(config)
    assert urlsplit(session.redirect_url).path.startswith("/c/pay/")


def _fields(request):
    import attrs
    return attrs.asdict(request, recurse=False)


def test_two_installations_on_one_stripe_account_never_share_an_idempotency_key(emulator):
    # Same tenant id, same payment number, other amounts: two loket installations (or one
    # whose database was reset) sharing a Stripe account.
    first = make_config(emulator, installation_id="a" * 32)
    second = make_config(emulator, installation_id="b" * 32)
    ours = charge(first, amounts=(12050,))
    theirs = charge(second, amounts=(9900,))  # Stripe would refuse a reused key: 502
    assert theirs.gateway_reference != ours.gateway_reference


def test_the_session_and_its_payment_intent_carry_the_installation_id(emulator):
    config = make_config(emulator, installation_id="a" * 32)
    session = emulator.objects[charge(config).gateway_reference]
    for metadata in (session["metadata"], session["_pi_data"]["metadata"]):
        assert (metadata["loket_installation_id"], metadata["loket_tenant_id"],
                metadata["loket_config_id"]) == ("a" * 32, "7", "1")
    emulator.pay(session["id"])
    intent = emulator.objects[emulator.session(session["id"])["payment_intent"]]
    assert intent["metadata"]["loket_installation_id"] == "a" * 32
    assert emulator.objects[intent["latest_charge"]]["metadata"]["loket_installation_id"] == \
        "a" * 32
