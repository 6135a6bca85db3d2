"""Credentials: each field's own message, the currency, the signed live check, the handshake."""

import attrs
import pytest

from loket.plugin_api import CredentialsRejected, GatewayError
from loket_doku import plugin
from loket_doku.api import BASE_URLS, base_url
from loket_doku.testing.kit import GOOD_CREDENTIALS, make_config


def validate(config, creds):
    return plugin.loket_gateway_validate_credentials(config=config, credentials=creds)


def test_good_credentials_are_checked_with_a_signed_call_and_normalized(config, doku):
    padded = f"  {GOOD_CREDENTIALS['client_id']} "
    stored = validate(config, {**GOOD_CREDENTIALS, "client_id": padded,
                               "environment": "SANDBOX"})
    assert stored == GOOD_CREDENTIALS
    probe = doku.log[-1]
    assert probe["method"] == "GET" and probe["path"].startswith("/orders/v1/status/LOKET-CHECK-")
    assert probe["status"] == 404  # signature accepted, invoice unknown: nothing created
    assert doku.orders == {}


@pytest.mark.parametrize("field,value,words", [
    ("mall_id", "1089663", "exactly 8 digits"),
    ("mall_id", "1089663A", "exactly 8 digits"),
    ("shared_key", "k4Sd-2EE9", "letters or digits"),
    ("chain_merchant_id", "CH1", "numeric"),
    ("client_id", "ABC-0001-1700000000001", "BRN-"),
    ("secret_key", "short", "Secret Key"),
    ("environment", "staging", "sandbox' or 'production"),
])
def test_each_malformed_field_gets_its_own_message(config, doku, field, value, words):
    with pytest.raises(CredentialsRejected) as caught:
        validate(config, {**GOOD_CREDENTIALS, field: value})
    assert [e["field"] for e in caught.value.errors] == [field]
    assert words in caught.value.errors[0]["message"]
    assert doku.log == []  # refused before any call to DOKU


def test_every_missing_field_is_named(config):
    with pytest.raises(CredentialsRejected) as caught:
        validate(config, {})
    assert {e["field"] for e in caught.value.errors} == {
        "mall_id", "shared_key", "chain_merchant_id", "client_id", "secret_key"}


def test_chain_merchant_na_is_accepted(config):
    stored = validate(config, {**GOOD_CREDENTIALS, "chain_merchant_id": "NA"})
    assert stored["chain_merchant_id"] == "NA"


def test_only_idr_is_accepted(doku, receiver):
    usd = make_config(doku, receiver.url, currency="USD")
    with pytest.raises(CredentialsRejected) as caught:
        validate(usd, GOOD_CREDENTIALS)
    assert caught.value.errors == [{"field": "currency",
                                    "message": "DOKU Checkout charges in IDR only, not USD"}]


def test_wrong_secret_key_is_refused_with_dokus_words(config):
    with pytest.raises(CredentialsRejected) as caught:
        validate(config, {**GOOD_CREDENTIALS, "secret_key": "SK-wrongKeyButWellFormed"})
    assert caught.value.gateway_message == "Invalid Header Signature"
    assert caught.value.gateway_code == "invalid_signature"
    assert {e["field"] for e in caught.value.errors} == {"client_id", "secret_key"}


def test_unknown_client_id_is_refused(config):
    with pytest.raises(CredentialsRejected) as caught:
        validate(config, {**GOOD_CREDENTIALS, "client_id": "MCH-0001-10791114622547"})
    assert caught.value.gateway_message == "Invalid Client-Id"


def test_unreachable_doku_is_a_network_error_not_a_refusal(doku):
    config = make_config(doku)
    doku.stop()
    with pytest.raises(GatewayError) as caught:
        validate(config, GOOD_CREDENTIALS)
    assert not isinstance(caught.value, CredentialsRejected)
    assert caught.value.category == "network"


def test_handshake_reports_facts_and_fails_when_keys_stop_working(config, doku):
    facts = plugin.loket_gateway_handshake(config=config)
    assert facts == {"environment": "sandbox", "client_id": GOOD_CREDENTIALS["client_id"],
                     "api_base": doku.url}
    revoked = attrs.evolve(config, credentials={**config.credentials,
                                                "secret_key": "SK-rotatedAwayKey01"})
    with pytest.raises(GatewayError):
        plugin.loket_gateway_handshake(config=revoked)


def test_base_url_follows_the_environment_unless_overridden(config):
    plain = attrs.evolve(config, options={})
    assert base_url(plain) == BASE_URLS["sandbox"] == "https://api-sandbox.doku.com"
    prod = attrs.evolve(plain, credentials={**plain.credentials, "environment": "production"})
    assert base_url(prod) == "https://api.doku.com"
    assert base_url(config) == config.options["api_base"]


def test_production_keys_are_checked_against_production_on_first_save(doku):
    # Nothing stored yet; DOKU answers only on the production host, sandbox is closed.
    config = attrs.evolve(make_config(doku), credentials={}, options={
        "api_bases": {"production": doku.url, "sandbox": "http://127.0.0.1:9"}})
    production = {**GOOD_CREDENTIALS, "environment": "production"}
    stored = validate(config, production)
    assert stored["environment"] == "production"
    assert doku.log[-1]["path"].startswith("/orders/v1/status/LOKET-CHECK-")
    with pytest.raises(GatewayError) as caught:  # the same keys said to be sandbox keys
        validate(config, {**GOOD_CREDENTIALS, "environment": "sandbox"})
    assert caught.value.category == "network"
