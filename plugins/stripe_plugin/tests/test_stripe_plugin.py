"""The package as loket sees it: entry point, contract, description, other kinds."""

import importlib.metadata

import jsonschema

from loket.plugin_api import Money
from loket.plugins import Plugins
from loket_stripe import plugin


def test_installed_entry_point_registers_the_stripe_gateway():
    eps = {ep.name: ep for ep in importlib.metadata.entry_points(group="loket")}
    assert eps["stripe"].value == "loket_stripe.plugin"
    assert eps["stripe"].load().LOKET_CONTRACT == "1.3"
    assert "stripe" in Plugins().gateways


def test_description_lists_credentials_statuses_and_minimum_charges():
    description = plugin.loket_gateway_describe()
    schema = description.credential_schema
    jsonschema.Draft202012Validator.check_schema(schema)
    assert set(schema["required"]) == {"secret_key", "publishable_key", "webhook_secret"}
    assert "restricted_key" in schema["properties"]
    assert set(description.secret_fields) == {"secret_key", "restricted_key", "webhook_secret"}
    assert {"USD", "JPY", "KRW", "IDR", "EUR"} <= set(description.currencies)
    assert description.minimum_charge["USD"] == Money.parse("0.50", "USD")
    assert description.minimum_charge["JPY"] == Money.parse("50", "JPY")
    assert description.minimum_charge["GBP"] == Money.parse("0.30", "GBP")
    assert description.minimum_charge["IDR"] == Money.parse("10000", "IDR")
    assert set(description.minimum_charge) == set(description.currencies)
    for raw in description.statuses:
        assert plugin.loket_gateway_map_status(config=_cfg("stripe"), raw_status=raw)


def test_schema_accepts_emulator_credentials_and_refuses_a_publishable_key_as_secret(emulator):
    validator = jsonschema.Draft202012Validator(plugin.loket_gateway_describe().credential_schema)
    assert not list(validator.iter_errors(emulator.credentials(with_restricted=True)))
    bad = {**emulator.credentials(), "secret_key": emulator.publishable_key}
    assert [e.path[0] for e in validator.iter_errors(bad)] == ["secret_key"]


def _cfg(kind):
    from loket.plugin_api import GatewayConfig
    return GatewayConfig(id=1, tenant_id=1, kind=kind, credentials={}, currency="USD")


def test_every_gateway_hook_leaves_other_kinds_alone():
    other = _cfg("doku")
    assert plugin.loket_gateway_validate_credentials(config=other, credentials={}) is None
    assert plugin.loket_gateway_handshake(config=other) is None
    assert plugin.loket_gateway_charge(config=other, request=None) is None
    assert plugin.loket_gateway_parse_webhook(config=other, request=None) is None
    assert plugin.loket_gateway_map_status(config=other, raw_status="succeeded") is None
    assert plugin.loket_gateway_fetch_status(config=other, payment_id="P",
                                             gateway_reference="cs_x") is None
    assert plugin.loket_gateway_refund(config=other, request=None) is None
    assert plugin.loket_gateway_fetch_settlements(config=other, since=None, until=None) is None
