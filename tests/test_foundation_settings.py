"""Tenant settings are validated by JSON Schema and refused with the path of each error."""

import pytest

from loket.core.settings import DEFAULTS, load_settings, save_settings, validate_settings
from loket.core.tenants import create_tenant
from loket.errors import ValidationFailed

from engine_support import ACTOR


def test_defaults_fill_what_is_not_given():
    merged = validate_settings({"currency": "IDR", "locale": "id_ID"})
    assert merged["currency"] == "IDR"
    assert merged["credit_note_expiry_days"] == 365
    assert merged["notes_max_length"] == 500
    assert merged["default_channel"] == "walk-in"
    assert merged["number_formats"]["payment"]["format"] == "PAY-{yyyy}-{seq:06}"


def test_every_error_is_named_by_its_json_path():
    with pytest.raises(ValidationFailed) as info:
        validate_settings({
            "currency": "dollars",
            "credit_note_expiry_days": 0,
            "destinations": {"pay-a-bill": {"fields": {}}},
            "number_formats": {"receipt": {"format": "R-no-seq"}},
            "surprise": True,
        })
    fields = {e["field"] for e in info.value.errors}
    assert {"$.currency", "$.credit_note_expiry_days", "$.destinations['pay-a-bill']",
            "$.number_formats.receipt.format", "$"} <= fields


def test_invalid_settings_are_not_stored(ctx):
    with ctx.transaction() as session:
        tenant_id = create_tenant(session, ACTOR, "s1", "S1", {"currency": "USD"}).id
    with pytest.raises(ValidationFailed):
        with ctx.transaction() as session:
            save_settings(session, tenant_id, {**DEFAULTS, "overpayment_threshold": "-5"})
    with ctx.transaction() as session:
        assert load_settings(session, tenant_id)["overpayment_threshold"] == "500.00"


def test_routing_errors_name_the_destination():
    from loket.core.settings import Settings
    settings = Settings(validate_settings({}))
    with pytest.raises(ValidationFailed, match="unknown destination 'pay-a-car'"):
        settings.route("pay-a-car")
    assert settings.route("pay-a-bill")["processor"] == "bill"
