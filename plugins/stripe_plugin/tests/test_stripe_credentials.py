"""Credentials: format field by field, live and test never mixed, then a live call."""

import pytest

from loket.plugin_api import CredentialsRejected, GatewayError
from loket_stripe import plugin
from loket_stripe.credentials import REVIEW
from loket_stripe.testing.kit import make_config


def validate(config, **changes):
    credentials = {**config.credentials, **changes}
    return plugin.loket_gateway_validate_credentials(config=config, credentials=credentials)


def test_valid_keys_pass_the_live_check_and_come_back_normalized(config, emulator):
    stored = validate(config, secret_key=f"  {emulator.secret_key} ", restricted_key="")
    assert stored == emulator.credentials()
    assert ("GET", "/v1/balance") in emulator.requests_seen


def test_restricted_key_is_checked_live_too(config, emulator):
    stored = validate(config, restricted_key=emulator.restricted_key)
    assert stored["restricted_key"] == emulator.restricted_key
    emulator.revoke_key(emulator.restricted_key)
    with pytest.raises(CredentialsRejected) as caught:
        validate(config, restricted_key=emulator.restricted_key)
    assert caught.value.errors[0]["field"] == "restricted_key"


def test_each_malformed_field_is_named_with_its_own_message(config):
    with pytest.raises(CredentialsRejected) as caught:
        validate(config, secret_key="pk_test_notasecretkey000000000", publishable_key="",
                 webhook_secret="secret123", restricted_key="rk_prod_abc")
    fields = {e["field"]: e["message"] for e in caught.value.errors}
    assert set(fields) == {"secret_key", "publishable_key", "webhook_secret", "restricted_key"}
    assert "sk_live_" in fields["secret_key"]
    assert fields["publishable_key"] == "Publishable key is required"
    assert "whsec_" in fields["webhook_secret"]
    assert caught.value.detail == REVIEW


def test_live_and_test_keys_are_never_mixed(config, emulator):
    live_pk = emulator.publishable_key.replace("pk_test_", "pk_live_")
    live_rk = emulator.restricted_key.replace("rk_test_", "rk_live_")
    with pytest.raises(CredentialsRejected) as caught:
        validate(config, publishable_key=live_pk, restricted_key=live_rk)
    assert [e["field"] for e in caught.value.errors] == ["restricted_key", "publishable_key"]
    assert "live and test keys cannot be mixed" in caught.value.errors[1]["message"]
    assert not emulator.requests_seen  # refused before any call to Stripe


def test_a_key_stripe_refuses_gives_the_review_message_and_stripes_own(config):
    unknown = "sk_test_51ThisKeyDoesNotExist00000000"
    with pytest.raises(CredentialsRejected) as caught:
        validate(config, secret_key=unknown)
    error = caught.value
    assert error.detail.startswith("Please review all the details entered above and retry "
                                   "to connect")
    assert error.gateway_message.startswith("Invalid API Key provided: sk_test_")
    assert error.gateway_message in error.detail
    assert error.errors == [{"field": "secret_key", "message": error.gateway_message}]


def test_a_currency_stripe_does_not_charge_in_is_refused(emulator):
    config = make_config(emulator, currency="XXX")
    with pytest.raises(CredentialsRejected) as caught:
        validate(config)
    assert caught.value.errors[0]["field"] == "currency"


def test_unreachable_stripe_is_a_network_error_not_a_rejection(emulator):
    config = make_config(emulator, options={"api_base": "http://127.0.0.1:9",
                                            "max_network_retries": 0})
    with pytest.raises(GatewayError) as caught:
        validate(config)
    assert not isinstance(caught.value, CredentialsRejected)
    assert caught.value.category == "network"


@pytest.mark.parametrize("status", [400, 500, 503])
def test_a_stripe_error_answer_is_reported_as_such_not_as_a_network_error(
        config, emulator, status):
    emulator.fail_next("GET", "/v1/balance", status, "Something went wrong on Stripe's end.")
    with pytest.raises(GatewayError) as caught:
        validate(config)
    assert not isinstance(caught.value, CredentialsRejected)
    assert caught.value.category == "technical"
    assert caught.value.gateway_message == "Something went wrong on Stripe's end."
    assert f"Stripe answered HTTP {status}" in caught.value.detail
    assert "reached" not in caught.value.detail


def test_handshake_reports_the_account(config, emulator):
    facts = plugin.loket_gateway_handshake(config=config)
    assert facts["account_id"] == emulator.account["id"]
    assert facts["account_name"] == "Kota Water Utility"
    assert facts["default_currency"] == "USD"
    assert facts["livemode"] is False


def test_handshake_with_a_revoked_key_raises_with_stripes_message(config, emulator):
    emulator.revoke_key(emulator.secret_key)
    with pytest.raises(GatewayError) as caught:
        plugin.loket_gateway_handshake(config=config)
    assert "Invalid API Key provided" in caught.value.gateway_message
