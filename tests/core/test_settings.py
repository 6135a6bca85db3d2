"""Tenant settings are validated by JSON Schema and refused with the path of each error."""

import threading

import pytest
from support.concurrency import at_once
from support.engine import ACTOR, ADMIN, seed

from loket import cli
from loket.core.models import TenantSettings
from loket.core.settings import (
    DEFAULTS,
    check_processors,
    digit_mismatches,
    load_settings,
    save_settings,
    update_settings,
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
        assert load_settings(session, tenant_id)["overpayment_threshold"] == "500"


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


def test_two_admins_saving_different_settings_at_once_both_keep_their_change(pg_ctx):
    ctx = pg_ctx
    tenant_id = seed(ctx)
    changes = [{"notifications": {"tenant_admins": ["ops@water.example"]}},
               {"credit_note_expiry_days": 30}]
    both_read = threading.Barrier(2)

    def save(i):
        with ctx.transaction() as session:
            load_settings(session, tenant_id)  # each request has read the settings
            both_read.wait(10)
            update_settings(session, ADMIN, tenant_id, changes[i])

    assert at_once(save) == [None, None]
    with ctx.transaction() as session:
        document = load_settings(session, tenant_id).document
    assert document["credit_note_expiry_days"] == 30
    assert document["notifications"]["tenant_admins"] == ["ops@water.example"]


@pytest.mark.parametrize("address", ["not an address", "ops@", "@water.example",
                                     "ops@water@example", "ops @water.example"])
def test_a_notification_address_that_is_not_one_is_refused_by_its_path(address):
    with pytest.raises(ValidationFailed) as info:
        validate_settings({"notifications": {"tenant_admins": ["ok@water.example", address]}})
    assert [e["field"] for e in info.value.errors] == ["$.notifications.tenant_admins[1]"]
    assert address in info.value.errors[0]["message"]


def test_notification_addresses_are_kept():
    merged = validate_settings({"notifications": {"billing_managers": ["bm@water.example",
                                                                       "ops@localhost"]}})
    assert merged["notifications"]["billing_managers"] == ["bm@water.example", "ops@localhost"]


def test_a_route_to_a_processor_not_installed_is_refused_by_its_path(ctx, tenant_id):
    with ctx.transaction() as session:
        routes = {**load_settings(session, tenant_id)["destinations"],
                  "pay-a-bill": {"processor": "bil"}, "meters": {"processor": "meter"}}
        with pytest.raises(ValidationFailed) as info:
            update_settings(session, ADMIN, tenant_id, {"destinations": routes},
                            processors=ctx.plugins.destinations)
    errors = {e["field"]: e["message"] for e in info.value.errors}
    assert set(errors) == {"$.destinations['pay-a-bill'].processor",
                           "$.destinations.meters.processor"}
    assert errors["$.destinations.meters.processor"].startswith(
        "processor 'meter' is not installed (installed: ")
    with ctx.transaction() as session:
        assert load_settings(session, tenant_id).route("pay-a-bill")["processor"] == "bill"


def test_a_route_stored_before_its_plugin_was_removed_does_not_block_other_changes():
    before = validate_settings({"destinations": {"meters": {"processor": "meter"}}})
    check_processors({**before, "locale": "id_ID"}, {"bill"}, before)  # nothing raised
    with pytest.raises(ValidationFailed):
        check_processors({**before, "destinations": {"meters": {"processor": "meters"}}},
                         {"bill"}, before)

