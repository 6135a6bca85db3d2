"""Money: integer minor units, strict decimal parsing, babel formatting."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loket.core.money import Money, minor_digits
from loket.errors import ValidationFailed


@pytest.mark.parametrize("text, currency, minor", [
    ("120.50", "USD", 12050), ("120.5", "USD", 12050), ("0", "USD", 0), ("7", "USD", 700),
    ("500", "JPY", 500), ("120500", "IDR", 12050000), ("1.234", "KWD", 1234),
    (" 42.00 ", "usd", 4200),
])
def test_parse_gives_minor_units(text, currency, minor):
    money = Money.parse(text, currency)
    assert money.amount == minor and money.currency == currency.strip().upper()


@pytest.mark.parametrize("text, currency, message", [
    ("1.234", "USD", "more than 2 decimals"),
    ("1.5", "JPY", "more than 0 decimals"),
    ("-1.00", "USD", "must not be negative"),
    ("abc", "USD", "is not a decimal number"),
    ("1e3", "USD", "is not a decimal number"),
    ("", "USD", "is not a decimal number"),
    ("1,00", "USD", "is not a decimal number"),
    ("NaN", "USD", "is not a decimal number"),
])
def test_parse_rejects_bad_input_naming_the_field(text, currency, message):
    with pytest.raises(ValidationFailed) as info:
        Money.parse(text, currency, field="amount_received")
    assert message in info.value.detail
    assert info.value.errors == [{"field": "amount_received", "message": info.value.detail}]


def test_bad_currency_code_is_refused():
    with pytest.raises(ValidationFailed, match="ISO 4217"):
        Money(100, "US")


def test_amount_must_be_an_int_never_a_float():
    with pytest.raises(TypeError):
        Money(1.5, "USD")  # noqa - the point of the test
    with pytest.raises(TypeError):
        Money(True, "USD")


@pytest.mark.parametrize("money, locale, text", [
    (Money(12050, "USD"), "en_US", "$120.50"),
    (Money(12050000, "IDR"), "id_ID", "Rp 120.500"),
    (Money(500, "JPY"), "en_US", "¥500"),
    (Money(150, "IDR"), "id_ID", "Rp1,50"),
])
def test_format_with_babel(money, locale, text):
    assert money.format(locale) == text


def test_arithmetic_refuses_mixed_currencies():
    assert Money(100, "USD") + Money(50, "USD") == Money(150, "USD")
    with pytest.raises(ValidationFailed):
        Money(100, "USD") + Money(100, "EUR")


@given(st.integers(min_value=0, max_value=10**15),
       st.sampled_from(["USD", "JPY", "IDR", "KWD", "EUR"]))
def test_decimal_string_round_trips_exactly(amount, currency):
    money = Money(amount, currency)
    assert Money.parse(money.decimal_string(), currency) == money
    assert minor_digits(currency) == (len(money.decimal_string().split(".")[1])
                                      if "." in money.decimal_string() else 0)
