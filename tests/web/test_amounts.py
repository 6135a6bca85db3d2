"""An amount typed into a page's form is read the way the page writes amounts: ``145,50`` and
``Rp 1.500.000`` on an Indonesian page, ``1,500.00`` on an English one, the plain ``145.50``
where it cannot mean anything else; what could be read two ways, or 100 or 1000 times off,
is refused, naming the field in the page's language with an example written its way."""

from __future__ import annotations

import pytest

from loket.money import ISO4217_DIGITS, parse_minor
from loket.web.amounts import AmountNotUnderstood, Trouble, example, plain_amount, written

READ = [  # (locale, currency, typed, the plain decimal the core gets)
    ("id_ID", "USD", "145,50", "145.50"),
    ("id_ID", "USD", "US$145,50", "145.50"),
    ("id_ID", "USD", "US$ 145,50", "145.50"),
    ("id_ID", "USD", "$145,50", "145.50"),
    ("id_ID", "USD", "145,50 USD", "145.50"),
    ("id_ID", "USD", "1.500,00", "1500.00"),
    ("id_ID", "USD", "1.500.000,50", "1500000.50"),
    ("id_ID", "USD", "145.50", "145.50"),  # the plain form: two decimals cannot be grouping
    ("id_ID", "USD", "1500.5", "1500.5"),
    ("id_ID", "USD", "1.500", "1500"),  # grouping, as the page writes it: USD has 2 decimals
    ("id_ID", "USD", "1.500.000", "1500000"),
    ("id_ID", "USD", "1500", "1500"),
    ("id_ID", "USD", "０,５０", "0.50"),  # full-width digits
    ("id_ID", "IDR", "Rp 1.500.000", "1500000"),
    ("id_ID", "IDR", "Rp1.500.000", "1500000"),
    ("id_ID", "IDR", "Rp. 150.000,-", "150000"),
    ("id_ID", "IDR", "IDR 1.500.000,50", "1500000.50"),
    ("id_ID", "IDR", "Rp\xa01.500", "1500"),  # copied from the page (a no-break space)
    ("id_ID", "JPY", "1.500", "1500"),
    ("id_ID", "JPY", "JP¥ 1.500.000", "1500000"),
    ("id_ID", "KWD", "1.500,250", "1500.250"),
    ("id_ID", "KWD", "1.500.000", "1500000"),
    ("en_US", "USD", "145.50", "145.50"),
    ("en_US", "USD", "$1,500.00", "1500.00"),
    ("en_US", "USD", "1,500", "1500"),
    ("en_US", "USD", "145.50 USD", "145.50"),
    ("en_US", "IDR", "IDR 1,500,000", "1500000"),
    ("en_US", "IDR", "Rp 1,500,000.50", "1500000.50"),
    ("en_US", "JPY", "¥1,500", "1500"),
    ("en_US", "KWD", "1.500", "1.500"),
    ("en_US", "USD", "0", "0"),
    ("id_ID", "USD", "0,00", "0.00"),
    ("en_US", "USD", "  ", ""),
]

REFUSED = [  # (locale, currency, typed, why)
    ("id_ID", "USD", "abc", Trouble.NOT_AN_AMOUNT),
    ("id_ID", "USD", "1,500.00", Trouble.NOT_AN_AMOUNT),  # English order on an Indonesian page
    ("id_ID", "USD", "1.50,00", Trouble.NOT_AN_AMOUNT),  # a misplaced group separator
    ("id_ID", "USD", "1.50.0", Trouble.NOT_AN_AMOUNT),
    ("id_ID", "USD", "Rp 145,50", Trouble.NOT_AN_AMOUNT),  # another currency's symbol
    ("id_ID", "USD", "€5", Trouble.NOT_AN_AMOUNT),
    ("id_ID", "USD", "145,505", Trouble.DECIMALS),
    ("id_ID", "USD", "1500.000", Trouble.DECIMALS),
    ("id_ID", "USD", "-5", Trouble.NEGATIVE),
    ("id_ID", "KWD", "1.500", Trouble.AMBIGUOUS),  # 1500, or 1.5 written plainly
    ("id_ID", "KWD", "KWD 12.345", Trouble.AMBIGUOUS),
    ("id_ID", "JPY", "145,50", Trouble.DECIMALS),
    ("id_ID", "IDR", "9" * 20, Trouble.TOO_LARGE),
    ("en_US", "USD", "145,50", Trouble.NOT_AN_AMOUNT),  # never 14550
    ("en_US", "USD", "1.500,00", Trouble.NOT_AN_AMOUNT),
    ("en_US", "USD", "1 500", Trouble.NOT_AN_AMOUNT),
    ("en_US", "USD", "1e5", Trouble.NOT_AN_AMOUNT),
    ("en_US", "USD", "NaN", Trouble.NOT_AN_AMOUNT),
    ("en_US", "JPY", "1,500.50", Trouble.DECIMALS),
]


@pytest.mark.parametrize(("locale", "currency", "typed", "plain"), READ)
def test_an_amount_is_read_as_the_page_writes_it(locale, currency, typed, plain):
    assert plain_amount(typed, locale, currency) == plain
    if plain:
        parse_minor(plain, currency)  # what the core takes


@pytest.mark.parametrize(("locale", "currency", "typed", "why"), REFUSED)
def test_what_is_not_one_amount_is_refused_naming_the_field(locale, currency, typed, why):
    with pytest.raises(AmountNotUnderstood) as refused:
        plain_amount(typed, locale, currency, field="amount_received",
                     label="Amount received")
    assert refused.value.trouble is why
    assert refused.value.errors == [{"field": "amount_received",
                                     "message": refused.value.detail}]
    assert refused.value.status == 422


def test_the_refusal_is_said_in_the_pages_language_with_an_example_written_its_way():
    def said(typed: str, locale: str, currency: str = "USD") -> str:
        with pytest.raises(AmountNotUnderstood) as refused:
            plain_amount(typed, locale, currency, field="amount_received",
                         label="Amount received")
        return refused.value.said()

    assert said("145.5x", "id_ID") == \
        "Jumlah diterima: ini bukan jumlah uang. Tulis seperti 1.500,00 atau 1500."
    assert said("145,50", "en_US") == \
        "Amount received: this is not an amount. Write it like 1,500.00 or 1500."
    assert said("1.500", "id_ID", "KWD") == ("Jumlah diterima: 1.500 dapat dibaca sebagai dua "
                                              "jumlah yang berbeda. Tulis seperti 1.500,000 "
                                              "atau 1500.")
    assert said("145,50", "id_ID", "JPY") == \
        "Jumlah diterima: jumlah dalam JPY tidak memakai desimal."
    assert said("145,505", "id_ID") == "Jumlah diterima: paling banyak 2 desimal."
    assert said("-5", "en_US") == "Amount received: the amount must not be negative."


def test_examples_and_filled_in_values_are_written_the_pages_way_and_read_back():
    assert ISO4217_DIGITS["IDR"] == 2 and ISO4217_DIGITS["JPY"] == 0  # ISO 4217, not CLDR
    assert example("id_ID", "USD") == "1.500,00" and example("en_US", "USD") == "1,500.00"
    assert example("id_ID", "IDR") == "1.500,00" and example("en_US", "JPY") == "1,500"
    assert example("id_ID", "KWD") == "1.500,000"
    for locale in ("id_ID", "en_US"):
        for minor, currency in ((150000050, "IDR"), (1500000, "JPY"), (14550, "USD")):
            shown = written(minor, currency, locale)
            assert parse_minor(plain_amount(shown, locale, currency), currency) == minor
    assert written(150000050, "IDR", "id_ID") == "1.500.000,50"
