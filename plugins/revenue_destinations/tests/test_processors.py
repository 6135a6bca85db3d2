"""Each tax processor through loket's plugin manager (as loket calls it): it validates the
target against the account's receivables found by their attributes, quotes the fee by
person type, and allocates oldest first without paying beyond what is owed."""

from __future__ import annotations

import pytest

from loket.plugin_api import (
    DestinationTarget,
    FeeRule,
    Money,
    ValidationFailed,
)

CASES = {
    "filing_period": ({"taxpayer_id": "TIN-12345", "tax_type": "VAT", "period": "2026-Q3"},
                      ["VAT-Q3"]),
    "collection_notice": ({"customer_contact_id": "CC-9"}, ["CN-1", "CN-2"]),
    "form_dln": ({"dln": "20260012345678"}, ["F-1"]),
    "obligation": ({"obligation_id": "OBL-77"}, ["OB-1"]),
    "tax_role": ({"tax_role_id": "ROLE-5"}, ["TR-1", "TR-2"]),
    "tax_form": ({"dln": "20260012345678", "amount": "80"}, ["F-1"]),
}


def target(processor: str, params: dict, account: str = "T-1") -> DestinationTarget:
    return DestinationTarget(destination=f"pay-{processor}", processor=processor,
                             account_number=account, params=params)


@pytest.mark.parametrize("processor", sorted(CASES))
def test_validate_finds_the_accounts_receivables_by_attribute(plugins, ledger, processor):
    params, references = CASES[processor]
    resolved = plugins.validate_target(processor, ledger, target(processor, params))
    assert [o.reference for o in resolved.obligations] == references
    assert resolved.account_number == "T-1"


@pytest.mark.parametrize("processor", sorted(CASES))
def test_prepare_passes_the_fee_to_the_person_types_named(plugins, ledger, processor):
    params, _ = CASES[processor]
    resolved = plugins.validate_target(processor, ledger, target(processor, params))
    rule = FeeRule(percent="1", fixed="1000", pass_to=("individual",))
    individual = plugins.prepare(processor, resolved, "card", "individual", rule)
    business = plugins.prepare(processor, resolved, "card", "business", rule)
    expected = resolved.total.amount // 100 + Money.parse("1000", "IDR").amount
    assert individual.fee.amount == business.fee.amount == Money(expected, "IDR")
    assert individual.fee.passed_on and not business.fee.passed_on
    assert all(key.startswith("tax_") for key in individual.extra)


@pytest.mark.parametrize("processor", sorted(CASES))
def test_apply_allocates_oldest_first_never_beyond_what_is_owed(plugins, ledger, processor):
    params, references = CASES[processor]
    resolved = plugins.validate_target(processor, ledger, target(processor, params))
    total = resolved.total.amount
    exact = plugins.apply(processor, ledger, resolved, Money(total, "IDR"))
    assert sum(a.amount.amount for a in exact) == total
    more = plugins.apply(processor, ledger, resolved, Money(total + 500, "IDR"))
    assert sum(a.amount.amount for a in more) == total  # the rest is loket's credit note
    first = resolved.obligations[0]
    part = plugins.apply(processor, ledger, resolved, first.outstanding)
    assert [(a.receivable_id, a.amount) for a in part] == [(first.receivable_id,
                                                            first.outstanding)]


@pytest.mark.parametrize("processor,params,field", [
    ("filing_period", {"taxpayer_id": "TIN-12345", "tax_type": "VAT", "period": "2025-Q1"},
     "period"),
    ("filing_period", {"taxpayer_id": "TIN-12345", "tax_type": "VAT", "period": "Q3"},
     "period"),
    ("filing_period", {"taxpayer_id": "TIN-12345", "tax_type": "VAT"}, "period"),
    ("collection_notice", {"customer_contact_id": "CC-404"}, "customer_contact_id"),
    ("form_dln", {"dln": "20260000000000"}, "dln"),
    ("obligation", {"obligation_id": "OBL-99"}, "obligation_id"),  # another account's
    ("tax_role", {"tax_role_id": "ROLE-6"}, "tax_role_id"),
    ("tax_form", {"dln": "20260000000000"}, "amount"),
])
def test_validate_refuses_naming_the_field(plugins, ledger, processor, params, field):
    with pytest.raises(ValidationFailed) as caught:
        plugins.validate_target(processor, ledger, target(processor, params))
    assert caught.value.errors[0]["field"] == field


def test_another_accounts_obligation_reads_as_unknown(plugins, ledger):
    def refusal(obligation_id: str) -> str:
        with pytest.raises(ValidationFailed) as caught:
            plugins.validate_target("obligation", ledger,
                                    target("obligation", {"obligation_id": obligation_id}))
        return caught.value.detail.replace(obligation_id, "X")
    assert refusal("OBL-99") == refusal("OBL-00")


def test_another_accounts_tax_form_reads_as_one_that_does_not_exist(plugins, ledger):
    def answer(dln: str) -> tuple:
        resolved = plugins.validate_target("tax_form", ledger, target(
            "tax_form", {"dln": dln, "amount": "80"}, account="T-2"))
        return (resolved.obligations, (resolved.hold_key or "").replace(dln, "X"),
                resolved.total)
    # 20260012345678 is T-1's form: T-2 gets the answer a DLN that exists nowhere gets
    assert answer("20260012345678") == answer("20269999999999") == (
        (), "tax_form:dln=X", Money.parse("80", "IDR"))


def test_a_tax_form_not_sent_yet_is_held_for_the_declared_amount(plugins, ledger):
    resolved = plugins.validate_target("tax_form", ledger, target(
        "tax_form", {"dln": "20269999999999", "amount": "125000"}))
    assert resolved.obligations == ()
    assert resolved.hold_key == "tax_form:dln=20269999999999"
    assert resolved.total == Money.parse("125000", "IDR")
    prepared = plugins.prepare("tax_form", resolved, "card", "individual",
                               FeeRule(percent="2", pass_to=("individual",)))
    assert prepared.fee.amount == Money.parse("2500", "IDR")
    for amount in ("0", "0.505"):
        with pytest.raises(ValidationFailed) as caught:
            plugins.validate_target("tax_form", ledger, target(
                "tax_form", {"dln": "20269999999999", "amount": amount}))
        assert caught.value.errors[0]["field"] == "amount"
