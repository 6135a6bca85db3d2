"""Tenant settings are validated by JSON Schema and refused with the path of each error."""

import pytest
from support.engine import ACTOR

from loket import cli
from loket.core.models import TenantSettings
from loket.core.settings import (
    DEFAULTS,
    digit_mismatches,
    load_settings,
    save_settings,
    validate_settings,
)
from loket.core.tenants import create_tenant
from loket.errors import ConfigurationError, ValidationFailed
from loket.server.app import get_app


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


def test_each_tenant_records_its_currency_decimals(ctx):
    with ctx.transaction() as session:
        tenant = create_tenant(session, ACTOR, "pdam", "PDAM", {"currency": "IDR"})
        kwd = create_tenant(session, ACTOR, "kw", "Kuwait water", {"currency": "KWD"})
    with ctx.transaction() as session:
        assert session.get(TenantSettings, tenant.id).currency_digits == 2
        assert session.get(TenantSettings, kwd.id).currency_digits == 3
        assert digit_mismatches(session) == []
    ctx.check_stored_money()  # agrees: nothing raised


def test_loket_refuses_to_start_over_amounts_stored_with_other_decimals(ctx):
    with ctx.transaction() as session:
        tenant = create_tenant(session, ACTOR, "pdam", "PDAM", {"currency": "IDR"})
    with ctx.transaction() as session:  # as if written while babel said IDR had 0 decimals
        session.get(TenantSettings, tenant.id).currency_digits = 0
    with pytest.raises(ConfigurationError) as info:
        ctx.check_stored_money()
    assert "tenant 'pdam' stored IDR amounts with 0 decimals" in info.value.detail
    assert "ISO 4217 table now says 2" in info.value.detail


def test_entry_points_run_the_guard(ctx, monkeypatch, tmp_path):
    with ctx.transaction() as session:
        tenant = create_tenant(session, ACTOR, "pdam", "PDAM", {"currency": "IDR"})
        session.flush()
        session.get(TenantSettings, tenant.id).currency_digits = 0
    monkeypatch.setenv("LOKET_DATABASE_URL", ctx.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("LOKET_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("LOKET_SECRET_KEY", ",".join(ctx.config.secret_keys))
    with pytest.raises(ConfigurationError, match="'pdam' stored IDR"):
        get_app()
    assert cli.main(["serve", "--port", "0"]) == 2
