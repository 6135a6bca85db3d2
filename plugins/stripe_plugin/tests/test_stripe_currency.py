"""Amounts cross the SDK boundary exactly: zero-, two- and three-decimal currencies."""

import pytest

from loket.plugin_api import GatewayError, Money
from loket_stripe.currency import from_stripe, minimum_charge, to_stripe


@pytest.mark.parametrize("money, wire", [
    (Money(12050, "USD"), 12050),
    (Money(500, "JPY"), 500),
    (Money(10000, "KRW"), 10000),
    (Money(1500000, "IDR"), 1500000),
    (Money(12340, "KWD"), 12340),
    (Money(500, "ISK"), 50000),  # zero-decimal in ISO 4217, two-decimal in Stripe's API
])
def test_round_trip(money, wire):
    assert to_stripe(money) == wire
    assert from_stripe(wire, money.currency.lower()) == money


def test_three_decimal_amounts_must_end_in_zero():
    with pytest.raises(GatewayError, match="end in 0"):
        to_stripe(Money(12345, "KWD"))


def test_minimum_charge_is_in_loket_minor_units():
    assert minimum_charge("USD") == Money.parse("0.50", "USD")
    assert minimum_charge("JPY") == Money.parse("50", "JPY")
    assert minimum_charge("IDR") == Money.parse("10000", "IDR")  # loket's conservative floor
    assert minimum_charge("KRW") == Money.parse("1000", "KRW")


def test_a_currency_without_a_known_minimum_is_not_charged():
    with pytest.raises(GatewayError, match="knows no minimum charge"):
        minimum_charge("THB")
