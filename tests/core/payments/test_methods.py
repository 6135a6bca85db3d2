"""The method a checkout is made with: one the gateway offers, the gateway's first when the
payer chose none (the callers' default, card) and the gateway offers no card."""

import pytest

from loket.core.payments.methods import method_for
from loket.errors import ValidationFailed
from loket.types import GatewayDescription

QRIS_ONLY = GatewayDescription(kind="qr", display_name="QR Pay", credential_schema={},
                               methods=("qris", "va"))


def test_a_method_the_gateway_offers_is_kept():
    assert method_for(QRIS_ONLY, "va", agreed=False) == "va"


def test_no_choice_on_a_gateway_without_cards_is_its_first_method():
    assert method_for(QRIS_ONLY, "card", agreed=False) == "qris"


def test_another_method_the_gateway_does_not_offer_is_refused_naming_the_field():
    with pytest.raises(ValidationFailed) as refused:
        method_for(QRIS_ONLY, "ewallet", agreed=False)
    assert refused.value.errors[0]["field"] == "method" and "qris, va" in refused.value.detail


def test_a_bank_debit_under_an_agreement_runs_as_asked():
    assert method_for(QRIS_ONLY, "bank_debit", agreed=True) == "bank_debit"
