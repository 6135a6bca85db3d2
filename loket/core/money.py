"""The one Money type: integer minor units plus an ISO 4217 currency code.

Amounts never pass through a float. Decimal strings from people and gateways are
parsed with :func:`Money.parse`, which refuses more decimals than the currency has.
"""

from __future__ import annotations

import re
from decimal import Decimal

import attrs
from babel.core import get_global
from babel.numbers import format_currency, get_currency_precision

from loket.errors import ValidationFailed

_DECIMAL = re.compile(r"^\d+(\.\d+)?$")
# babel's precision table follows CLDR, which gives IDR two decimals; ISO 4217 too.
# The currencies below are zero-decimal in practice for every gateway loket knows.
_ZERO_DECIMAL = frozenset(
    "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split()
)


def minor_digits(currency: str) -> int:
    """Return how many decimals ``currency`` has (2 for USD, 0 for JPY, 3 for KWD)."""
    code = currency.upper()
    if code in _ZERO_DECIMAL:
        return 0
    return get_currency_precision(code)


def _check_currency(currency: str) -> str:
    code = currency.upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise ValidationFailed(f"'{currency}' is not an ISO 4217 currency code", field="currency")
    return code


@attrs.frozen(order=True)
class Money:
    """An amount of money: ``amount`` in the currency's minor unit (cents, sen...)."""

    amount: int = attrs.field(validator=attrs.validators.instance_of(int))
    currency: str = attrs.field(converter=_check_currency)

    def __attrs_post_init__(self) -> None:
        if isinstance(self.amount, bool):
            raise TypeError("Money amount must be an int, not a bool")

    @classmethod
    def parse(cls, text: str | int, currency: str, *, field: str = "amount") -> Money:
        """Parse a decimal string such as ``"120.50"`` into Money.

        :param text: the amount in major units as a string (an int is taken as major units).
        :param currency: ISO 4217 code.
        :param field: the field name used in the error message.
        :returns: Money in minor units.
        :raises ValidationFailed: for non-numeric, negative input or too many decimals.
        """
        currency = _check_currency(currency)
        raw = str(text).strip()
        if raw.startswith("-"):
            raise ValidationFailed(f"{field} must not be negative", field=field)
        if not _DECIMAL.match(raw):
            raise ValidationFailed(f"{field} '{text}' is not a decimal number", field=field)
        value = Decimal(raw)  # the pattern above admits only plain decimals
        digits = minor_digits(currency)
        decimals = len(raw.split(".")[1]) if "." in raw else 0
        if decimals > digits:
            raise ValidationFailed(
                f"{field} '{text}' has more than {digits} decimals for {currency}", field=field
            )
        return cls(int(value.scaleb(digits)), currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Return no money in ``currency``."""
        return cls(0, currency)

    def decimal_string(self) -> str:
        """Return the amount in major units as a plain string, e.g. ``"120.50"``."""
        digits = minor_digits(self.currency)
        sign = "-" if self.amount < 0 else ""
        whole, frac = divmod(abs(self.amount), 10**digits) if digits else (abs(self.amount), 0)
        return f"{sign}{whole}.{frac:0{digits}d}" if digits else f"{sign}{whole}"

    def format(self, locale: str = "en_US") -> str:
        """Format for people with babel: ``$120.50``, ``Rp 120.500``, ``¥500``.

        Currencies that CLDR says are paid in whole units in cash (IDR, JPY) are shown
        without decimals when the amount is whole, the way people there write them.
        """
        digits = minor_digits(self.currency)
        value = Decimal(self.amount).scaleb(-digits)
        cash_digits = get_global("currency_fractions").get(self.currency, (digits, 0, digits, 0))[2]
        if digits and cash_digits == 0 and self.amount % (10**digits) == 0:
            return format_currency(value, self.currency, locale=locale, format="¤ #,##0",
                                   currency_digits=False)
        return format_currency(value, self.currency, locale=locale)

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money) or other.currency != self.currency:
            raise ValidationFailed(
                f"cannot combine {self.currency} with {getattr(other, 'currency', other)}",
                field="currency",
            )

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __str__(self) -> str:
        return f"{self.decimal_string()} {self.currency}"

    def to_json(self) -> dict:
        """Return the wire form used by the REST API: minor units, code and a decimal string."""
        return {"amount": self.amount, "currency": self.currency, "decimal": self.decimal_string()}
