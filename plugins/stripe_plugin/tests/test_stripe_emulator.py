"""The emulator behaves like Stripe where loket (and its end-to-end tests) rely on it."""

import time

import pytest
import requests
import stripe

from loket_stripe.testing.emulator import StripeEmulator
from loket_stripe.testing.emulator_http import parse_form


def client(emulator, key=None):
    return stripe.StripeClient(key or emulator.secret_key,
                               base_addresses={"api": emulator.url})


SESSION = {"mode": "payment", "success_url": "https://loket.example/ok",
           "line_items": [{"quantity": 1, "price_data": {
               "currency": "usd", "unit_amount": 700, "product_data": {"name": "Bill"}}}]}


def test_form_bodies_are_parsed_with_stripes_bracket_nesting():
    parsed = parse_form("line_items[0][price_data][unit_amount]=500&line_items[1][quantity]=2"
                        "&metadata[k]=v&expand[]=a&expand[]=b&mode=payment")
    assert parsed == {"line_items": [{"price_data": {"unit_amount": "500"}},
                                     {"quantity": "2"}],
                      "metadata": {"k": "v"}, "expand": ["a", "b"], "mode": "payment"}


def test_unknown_key_gets_stripes_401_so_the_sdk_raises_authentication_error(emulator):
    with pytest.raises(stripe.AuthenticationError, match="Invalid API Key provided"):
        client(emulator, "sk_test_51Unknown000000000000000").v1.balance.retrieve()
    raw = requests.get(f"{emulator.url}/v1/balance", timeout=5)
    assert raw.status_code == 401
    assert raw.json()["error"]["type"] == "invalid_request_error"


def test_idempotency_key_replays_and_refuses_other_params(emulator):
    api = client(emulator)
    first = api.v1.checkout.sessions.create(params=SESSION, options={"idempotency_key": "k1"})
    again = api.v1.checkout.sessions.create(params=SESSION, options={"idempotency_key": "k1"})
    assert again.id == first.id and len(emulator.sessions()) == 1
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"
    with pytest.raises(stripe.IdempotencyError, match="same parameters"):
        api.v1.checkout.sessions.create(params={**SESSION, "client_reference_id": "x"},
                                        options={"idempotency_key": "k1"})


def test_validation_errors_are_not_saved_under_the_idempotency_key(emulator):
    api = client(emulator)
    bad = {**SESSION, "expires_at": int(time.time()) + 60}
    with pytest.raises(stripe.InvalidRequestError, match="30 minutes and 24 hours"):
        api.v1.checkout.sessions.create(params=bad, options={"idempotency_key": "k2"})
    assert not emulator.sessions()


def test_test_and_live_objects_are_separate(emulator):
    live_key = "sk_live_51EmulatorLiveKey00000000000"
    emulator.add_key(live_key)
    session = client(emulator).v1.checkout.sessions.create(params=SESSION)
    with pytest.raises(stripe.InvalidRequestError, match="No such checkout.session"):
        client(emulator, live_key).v1.checkout.sessions.retrieve(session.id)


def test_hosted_page_pays_and_redirects_to_the_success_url(emulator):
    session = client(emulator).v1.checkout.sessions.create(params=SESSION)
    answer = requests.post(session.url, data={"outcome": "pay"}, allow_redirects=False,
                           timeout=5)
    assert answer.status_code == 303
    assert answer.headers["Location"] == "https://loket.example/ok"
    assert emulator.session(session.id)["payment_status"] == "paid"
    assert [e["type"] for e in emulator.events] == [
        "charge.succeeded", "payment_intent.succeeded", "checkout.session.completed"]


def test_events_can_be_listed_for_recovery(emulator):
    session = client(emulator).v1.checkout.sessions.create(params=SESSION)
    emulator.pay(session.id)
    listed = client(emulator).v1.events.list(params={"type": "checkout.session.*"})
    assert [e.type for e in listed.data] == ["checkout.session.completed"]


def test_deliveries_are_signed_and_verifiable_by_the_sdk(emulator):
    session = client(emulator).v1.checkout.sessions.create(params=SESSION)
    event = emulator.pay(session.id)[-1]
    body, headers = emulator.signed(event)
    verified = stripe.Webhook.construct_event(body, headers["Stripe-Signature"],
                                              emulator.webhook_secret)
    assert verified.id == event["id"]


def test_emulator_can_be_used_as_a_context_manager_and_stops_cleanly():
    with StripeEmulator() as emu:
        url = emu.url
        assert requests.get(f"{url}/v1/account", timeout=5,
                            headers={"Authorization": f"Bearer {emu.secret_key}"}).ok
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/v1/account", timeout=2)


def _one_item(currency: str, amount: int) -> dict:
    return {**SESSION, "line_items": [{"quantity": 1, "price_data": {
        "currency": currency, "unit_amount": amount, "product_data": {"name": "Bill"}}}]}


def test_amounts_below_the_minimum_and_currencies_without_one_are_refused(emulator):
    api = client(emulator)
    with pytest.raises(stripe.InvalidRequestError, match="at least 50 usd"):
        api.v1.checkout.sessions.create(params=_one_item("usd", 49))
    with pytest.raises(stripe.InvalidRequestError, match="at least 800000 idr"):
        api.v1.checkout.sessions.create(params=_one_item("idr", 799_999))
    with pytest.raises(stripe.InvalidRequestError, match="no minimum charge for thb"):
        api.v1.checkout.sessions.create(params=_one_item("thb", 100_000))
    assert api.v1.checkout.sessions.create(params=_one_item("idr", 800_000)).amount_total \
        == 800_000


def test_a_charge_settles_in_the_accounts_currency_at_the_exchange_rate():
    with StripeEmulator(default_currency="sgd", exchange_rates={"idr": "0.0000852"}) as emu:
        session = client(emu).v1.checkout.sessions.create(params=_one_item("idr", 15_000_000))
        emu.pay(session.id)
        [txn] = [o for o in emu.objects.values() if o["object"] == "balance_transaction"]
        # Rp 150,000 x 0.0000852 = S$12.78; fee 2.9% + S$0.30 in SGD
        assert (txn["amount"], txn["currency"], txn["exchange_rate"]) == (1278, "sgd", 0.0000852)
        assert (txn["fee"], txn["net"]) == (67, 1211)
        assert emu.objects[txn["source"]]["amount"] == 15_000_000  # the charge stays in IDR


def test_fail_next_answers_one_request_with_a_stripe_api_error(emulator):
    emulator.fail_next("GET", "/v1/balance", 503, "Stripe is briefly unavailable")
    with pytest.raises(stripe.APIError, match="briefly unavailable"):
        client(emulator).v1.balance.retrieve()
    assert client(emulator).v1.balance.retrieve().object == "balance"
