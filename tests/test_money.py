"""Money: integer minor units from ISO 4217, strict decimal parsing, babel formatting."""

import importlib.util
import json
from importlib.resources import files

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import REPO

from loket.errors import ValidationFailed
from loket.money import ISO4217_DIGITS, Money, minor_digits, parse_minor

_GENERATOR = REPO / "tools" / "iso4217_table.py"


@pytest.mark.parametrize("currency, digits", [
    ("IDR", 2), ("USD", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3), ("BHD", 3), ("CLF", 4),
    ("HUF", 2), ("ISK", 0), ("UGX", 0), ("MGA", 2),
])
def test_digits_are_iso_4217_not_cldr(currency, digits):
    assert minor_digits(currency) == digits
    assert minor_digits(currency.lower()) == digits


def test_committed_table_is_the_pinned_iso_4217_list():
    committed = json.loads(files("loket").joinpath("iso4217.json").read_text())
    spec = importlib.util.spec_from_file_location("iso4217_table", _GENERATOR)
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert committed == generator.table()
    assert len(ISO4217_DIGITS) > 150


@pytest.mark.parametrize("currency", sorted(ISO4217_DIGITS))
def test_every_currency_parses_prints_and_formats_exactly(currency):
    digits = ISO4217_DIGITS[currency]
    text = "1234567" + ("." + "0123456789"[1:digits + 1] if digits else "")
    money = Money.parse(text, currency)
    assert money.amount == int(text.replace(".", ""))
    assert money.decimal_string() == text
    shown = money.format("en_US")
    assert shown.replace(",", "").endswith(text) or text in shown.replace(",", "")
    if digits:
        with pytest.raises(ValidationFailed, match=f"more than {digits} decimals"):
            Money.parse("1." + "1" * (digits + 1), currency)


def test_idr_keeps_its_sen_whatever_babel_says():
    assert Money.parse("150000.50", "IDR").amount == 15_000_050
    assert Money(15_000_050, "IDR").format("id_ID") == "Rp150.000,50"


@pytest.mark.parametrize("code", ["XAU", "XXX", "ZZZ", "US"])
def test_codes_without_an_iso_4217_minor_unit_are_refused(code):
    with pytest.raises(ValidationFailed, match="ISO 4217"):
        minor_digits(code)


@pytest.mark.parametrize("text, currency, minor", [
    ("120.50", "USD", 12050), ("120.5", "USD", 12050), ("0", "USD", 0), ("7", "USD", 700),
    ("500", "JPY", 500), ("120500", "IDR", 12050000), ("1.234", "KWD", 1234),
    (" 42.00 ", "usd", 4200), ("92233720368547758.07", "USD", 2**63 - 1),
])
def test_parse_gives_minor_units(text, currency, minor):
    money = Money.parse(text, currency)
    assert money.amount == minor and money.currency == currency.strip().upper()
    assert parse_minor(text, currency) == minor  # the same rules, without the Money


@pytest.mark.parametrize("text, currency, message", [
    ("1.234", "USD", "more than 2 decimals"),
    ("1.5", "JPY", "more than 0 decimals"),
    ("-1.00", "USD", "must not be negative"),
    ("abc", "USD", "is not a decimal number"),
    ("1e3", "USD", "is not a decimal number"),
    ("", "USD", "is not a decimal number"),
    ("1,00", "USD", "is not a decimal number"),
    ("NaN", "USD", "is not a decimal number"),
    ("92233720368547758.08", "USD", "is too large"),  # one minor unit over a bigint
    ("9" * 40, "JPY", "is too large"),
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
    (Money(12050000, "IDR"), "id_ID", "Rp120.500"),  # whole rupiah are written whole
    (Money(1234, "KWD"), "en_US", "KWD1.234"),
    (Money(500, "JPY"), "en_US", "¥500"),
    (Money(150, "IDR"), "id_ID", "Rp1,50"),
])
def test_format_with_babel_is_exact(money, locale, text):
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
