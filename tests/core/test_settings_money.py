"""Money in tenant settings (thresholds, minimums, fixed fees) is an amount in the tenant's
currency: refused on save, naming its path, when it has more decimals than the currency; the
defaults fit every currency; amounts kept through a currency change are rewritten to fit
when that keeps their value."""

import pytest
from sqlalchemy import update
from support.engine import ACTOR, ADMIN

from loket.core.models import TenantSettings
from loket.core.settings import Settings, load_settings, update_settings, validate_settings
from loket.core.settings_schema import MONEY_SETTINGS, SETTINGS_SCHEMA
from loket.core.tenants import create_tenant
from loket.errors import ValidationFailed
from loket.money import ISO4217_DIGITS

FEE = {"pay-a-bill": {"processor": "bill", "fee": {"card": {"percent": "1", "fixed": "2.50"}}}}


def test_a_jpy_amount_with_decimals_is_refused_naming_each_setting():
    with pytest.raises(ValidationFailed) as info:
        validate_settings({"currency": "JPY", "overpayment_threshold": "500.00",
                           "approvals": {"refund_above": "500.00", "credit_note_above": "1.5",
                                         "plan_change_above": "1000.00"},
                           "part_payments": {"minimum": "0.50"}, "destinations": FEE})
    assert {e["field"] for e in info.value.errors} == {
        "$.overpayment_threshold", "$.approvals.refund_above", "$.approvals.credit_note_above",
        "$.approvals.plan_change_above", "$.part_payments.minimum",
        "$.destinations['pay-a-bill'].fee.card.fixed"}
    assert "more than 0 decimals for JPY" in info.value.errors[0]["message"]


def test_amounts_with_the_currencys_decimals_are_accepted():
    merged = validate_settings({"currency": "KWD", "overpayment_threshold": "12.125",
                                "approvals": {"refund_above": "500"}, "destinations": FEE})
    settings = Settings(merged)
    assert settings.money("overpayment_threshold") == 12125
    assert settings.money("approvals.refund_above") == 500000
    assert settings.money("approvals.credit_note_above") is None  # not set: no approval
    with pytest.raises(ValidationFailed) as info:
        validate_settings({"currency": "KWD", "overpayment_threshold": "12.1255"})
    assert [e["field"] for e in info.value.errors] == ["$.overpayment_threshold"]


@pytest.mark.parametrize("currency", ["USD", "JPY", "KWD", "CLF", "IDR"])
def test_the_defaults_fit_every_currency(currency):
    settings = Settings(validate_settings({"currency": currency}))
    digits = ISO4217_DIGITS[currency]
    assert settings.money("overpayment_threshold") == 500 * 10**digits
    assert settings.money("part_payments.minimum") == 0


def test_every_money_field_of_the_schema_is_checked():
    def paths(schema, keys=()):
        if schema.get("description", "").startswith("an amount in the tenant's currency"):
            yield keys
        for name, sub in (schema.get("properties") or {}).items():
            yield from paths(sub, (*keys, name))
        if isinstance(schema.get("additionalProperties"), dict):
            yield from paths(schema["additionalProperties"], (*keys, "*"))
    assert set(paths(SETTINGS_SCHEMA)) == set(MONEY_SETTINGS)


def _tenant(ctx, settings):
    with ctx.transaction() as session:
        return create_tenant(session, ACTOR, "m1", "M1", settings).id


def test_amounts_kept_through_a_currency_change_are_rewritten_to_fit(ctx):
    tenant_id = _tenant(ctx, {"currency": "USD", "overpayment_threshold": "250.00",
                              "approvals": {"refund_above": "500.00"}})
    with ctx.transaction() as session:
        saved = update_settings(session, ADMIN, tenant_id, {"currency": "JPY"})
    assert saved["overpayment_threshold"] == "250"
    assert saved["approvals"] == {"refund_above": "500"}
    with ctx.transaction() as session:
        stored = load_settings(session, tenant_id)
        assert (stored.money("overpayment_threshold"), stored.money("approvals.refund_above")) \
            == (250, 500)


def test_an_amount_that_cannot_fit_the_new_currency_refuses_the_change(ctx):
    tenant_id = _tenant(ctx, {"currency": "USD", "approvals": {"refund_above": "10.50"}})
    with pytest.raises(ValidationFailed) as info:
        with ctx.transaction() as session:
            update_settings(session, ADMIN, tenant_id, {"currency": "JPY"})
    assert [e["field"] for e in info.value.errors] == ["$.approvals.refund_above"]
    with ctx.transaction() as session:  # nothing changed
        assert load_settings(session, tenant_id).currency == "USD"
        saved = update_settings(session, ADMIN, tenant_id, {
            "currency": "JPY", "approvals": {"refund_above": "11"}})
    assert saved.money("approvals.refund_above") == 11


def test_an_amount_given_anew_is_checked_as_given(ctx):
    tenant_id = _tenant(ctx, {"currency": "JPY"})
    with pytest.raises(ValidationFailed) as info:
        with ctx.transaction() as session:
            update_settings(session, ADMIN, tenant_id, {"approvals": {"refund_above": "500.00"}})
    assert [e["field"] for e in info.value.errors] == ["$.approvals.refund_above"]


def _stored(ctx, tenant_id, **values):
    """Write the settings document as loket stored it before amounts were checked."""
    with ctx.transaction() as session:
        document = {**load_settings(session, tenant_id).document, **values}
        session.execute(update(TenantSettings).where(TenantSettings.tenant_id == tenant_id)
                        .values(document=document))


def test_a_jpy_threshold_stored_as_the_old_default_is_read_and_fitted_on_save(ctx):
    tenant_id = _tenant(ctx, {"currency": "JPY"})
    _stored(ctx, tenant_id, overpayment_threshold="500.00")  # the old default
    with ctx.transaction() as session:
        assert load_settings(session, tenant_id).money("overpayment_threshold") == 500
    with ctx.transaction() as session:  # any save fits it
        saved = update_settings(session, ADMIN, tenant_id, {"notes_max_length": 300})
    assert saved["overpayment_threshold"] == "500"


def test_a_stored_threshold_that_does_not_fit_names_itself(ctx):
    tenant_id = _tenant(ctx, {"currency": "JPY"})
    _stored(ctx, tenant_id, approvals={"refund_above": "10.50"})
    with ctx.transaction() as session:
        with pytest.raises(ValidationFailed) as info:
            load_settings(session, tenant_id).money("approvals.refund_above")
    assert info.value.errors[0]["field"] == "$.approvals.refund_above"
    assert "tenant admin" in info.value.detail


def test_an_approval_threshold_stored_before_the_check_is_read_in_the_tenants_currency(ctx):
    from loket.core.payments.approvals import ApprovalKind, required
    tenant_id = _tenant(ctx, {"currency": "JPY"})
    _stored(ctx, tenant_id, approvals={"refund_above": "500.00"})  # as the docs once showed
    with ctx.transaction() as session:
        assert not required(session, tenant_id, ApprovalKind.REFUND, "10", "JPY")
        assert required(session, tenant_id, ApprovalKind.REFUND, "501", "JPY")
