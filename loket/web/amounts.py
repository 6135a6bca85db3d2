"""Amounts people type into the pages' forms, read the way the page writes them.

The core and the JSON API take plain decimal strings (``"1500.50"``). A page in Indonesian
writes money as ``US$1.500,50`` or ``Rp 1.500.000``, and people type it back that way, so
every HTML form that takes an amount reads it here first, in the page's locale, and hands
the core the plain string. The rules:

- The currency's code, or its symbol in the page's language or another language loket
  speaks (``$``, ``US$``, ``Rp``, ``Rp.``), may stand before or after the amount, with
  spaces; any other letter or sign is refused.
- Text with the locale's decimal symbol is read strictly as the locale writes numbers
  (babel's ``parse_decimal(strict=True)``: ``1.500,00`` in Indonesian, ``1,500.00`` in
  English); a misplaced group separator (``1.50,00``) is refused.
- Where the decimal symbol is not ``.`` (Indonesian), text with dots and no decimal symbol
  is read as the plain form (``145.50``) or as the locale's grouping (``1.500.000``),
  whichever fits: ``145.50`` and ``1500.5`` cannot be grouping, so they are decimals;
  ``1.500.000`` cannot be a decimal, so it is grouping. When both fit (``1.500``: a dot and
  three digits) it is grouping, one thousand five hundred, as the page writes it, unless
  the currency has three or more decimals (KWD), where ``1.500`` could as well be 1.5: such
  an amount is refused as ambiguous, never guessed 1000 times off.
- An amount with more decimals than the currency has (ISO 4217, ``loket/iso4217.json``:
  IDR 2, JPY 0), a negative one or one too large to store is refused.

A refusal is :class:`AmountNotUnderstood`: it names the field and says, in the page's
language, how to write the amount (an example formatted for the locale).
"""

from __future__ import annotations

import copy
import enum
import re
import unicodedata
from decimal import Decimal, InvalidOperation

from babel import Locale
from babel.numbers import (
    NumberFormatError,
    get_currency_symbol,
    get_decimal_symbol,
    get_group_symbol,
    parse_decimal,
    parse_pattern,
)

from loket.errors import ValidationFailed
from loket.money import MAX_MINOR, minor_digits
from loket.web import rendering

EXAMPLE = Decimal(1500)
"""The amount the hints and refusals show, written the page's way (``1.500,00``)."""
_PLAIN = re.compile(r"[0-9]+\.[0-9]+")


def N_(message: str) -> str:
    """Mark ``message`` for the catalog; it is translated where it is shown."""
    return message


class Trouble(enum.StrEnum):
    """Why a typed amount was refused."""

    NOT_AN_AMOUNT = "not_an_amount"
    AMBIGUOUS = "ambiguous"
    DECIMALS = "decimals"
    NEGATIVE = "negative"
    TOO_LARGE = "too_large"


SAID = {
    Trouble.NOT_AN_AMOUNT: N_("%(field)s: this is not an amount. Write it like %(example)s "
                              "or %(plain)s."),
    Trouble.AMBIGUOUS: N_("%(field)s: %(given)s can be read as two different amounts. Write "
                          "it like %(example)s or %(plain)s."),
    Trouble.DECIMALS: N_("%(field)s: at most %(count)s decimals."),
    Trouble.NEGATIVE: N_("%(field)s: the amount must not be negative."),
    Trouble.TOO_LARGE: N_("%(field)s: this amount is too large."),
}
NO_DECIMALS = N_("%(field)s: amounts in %(currency)s have no decimals.")
ENGLISH = {
    Trouble.NOT_AN_AMOUNT: "{field} '{given}' is not an amount (write it like {example} or "
                           "{plain})",
    Trouble.AMBIGUOUS: "{field} '{given}' can be read as two different amounts (write it like "
                       "{example} or {plain})",
    Trouble.DECIMALS: "{field} '{given}' has more than {count} decimals for {currency}",
    Trouble.NEGATIVE: "{field} must not be negative",
    Trouble.TOO_LARGE: "{field} '{given}' is too large",
}


class AmountNotUnderstood(ValidationFailed):
    """A typed amount the page cannot read as one amount of its currency (422, naming the
    field); :meth:`said` is the sentence the page shows."""

    def __init__(self, trouble: Trouble, field: str, label: str, given: str, currency: str,
                 locale: str):
        self.trouble, self.label, self.given = trouble, label, given[:40]
        self.currency, self.locale = currency, locale
        super().__init__(ENGLISH[trouble].format(field=field, **self._values(locale)),
                         field=field)

    def _values(self, locale: str) -> dict[str, str | int]:
        return {"given": self.given, "example": example(locale, self.currency),
                "plain": f"{EXAMPLE:f}", "count": minor_digits(self.currency),
                "currency": self.currency}

    def said(self, locale: str | None = None) -> str:
        """The refusal in ``locale`` (the page's, by default), naming the field by its
        label: ``Jumlah diterima: ini bukan jumlah uang. Tulis seperti 1.500,00 atau 1500.``
        """
        locale = locale or self.locale
        _ = rendering.translations(locale).gettext
        message = SAID[self.trouble]
        if self.trouble is Trouble.DECIMALS and minor_digits(self.currency) == 0:
            message = NO_DECIMALS
        return _(message) % {"field": _(self.label), **self._values(locale)}


def example(locale: str, currency: str, value: Decimal = EXAMPLE) -> str:
    """``value`` written as people of ``locale`` write an amount of ``currency``, with
    every decimal the currency has and no symbol (``1.500,00`` in Indonesian, ``1,500.00``
    in English, ``1,500`` for JPY): the hints, placeholders and refusals show it."""
    digits = minor_digits(currency)
    pattern = copy.copy(parse_pattern(Locale.parse(locale).decimal_formats[None]))
    pattern.frac_prec = (digits, digits)
    return pattern.apply(value, locale)


def written(minor: int, currency: str, locale: str) -> str:
    """An amount in minor units written for a form field of a page in ``locale``, as
    :func:`plain_amount` reads it back (``500.000,00``): a form's value filled in."""
    return example(locale, currency, Decimal(minor).scaleb(-minor_digits(currency)))


def plain_amount(text: str | None, locale: str, currency: str, *, field: str = "amount",
                 label: str = N_("Amount")) -> str:
    """Read what a person typed into an amount field of a page in ``locale`` (the rules
    are the module's). Called by every HTML form that takes an amount, before the core.

    :param currency: the ISO 4217 code of the amount.
    :param field: the form field, named in the error.
    :param label: the field's label (a catalog message), named in the page's sentence.
    :returns: the plain decimal string the core parses (``"1500.00"``), with the decimals
        as typed; ``""`` when nothing was typed.
    :raises AmountNotUnderstood: for text that is not one amount of ``currency``.
    """
    given = " ".join(unicodedata.normalize("NFKC", text or "").split())
    if not given:
        return ""

    def refuse(trouble: Trouble) -> AmountNotUnderstood:
        return AmountNotUnderstood(trouble, field, label, given, currency, locale)

    body = _without_currency(given, currency, locale)
    if body.startswith("-"):
        raise refuse(Trouble.NEGATIVE)
    value = _read(body, locale, minor_digits(currency))
    if isinstance(value, Trouble):
        raise refuse(value)
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > minor_digits(currency):
        raise refuse(Trouble.DECIMALS)
    if value.scaleb(minor_digits(currency)) > MAX_MINOR:
        raise refuse(Trouble.TOO_LARGE)
    return f"{value:f}"


def _symbols(currency: str, locale: str) -> list[str]:
    """The ways ``currency`` is named beside an amount, longest first."""
    names = {currency}
    for place in (locale, *rendering.LANGUAGES.values()):
        names.add(unicodedata.normalize("NFKC", get_currency_symbol(currency, place)))
    return sorted(names, key=len, reverse=True)


def _without_currency(given: str, currency: str, locale: str) -> str:
    """``given`` without the currency's code or symbol at either end (and the dot of
    ``Rp.``), nor the spaces beside it."""
    for symbol in _symbols(currency, locale):
        dot = r"\.?" if symbol[-1].isalpha() else ""
        found = re.fullmatch(rf"(?i:{re.escape(symbol)}){dot}\s*(.+)|(.+?)\s*(?i:"
                             rf"{re.escape(symbol)})", given)
        if found:
            return (found.group(1) or found.group(2)).strip()
    return given


def _read(body: str, locale: str, digits: int) -> Decimal | Trouble:
    """The number in ``body`` (no currency, no sign); :attr:`Trouble.NOT_AN_AMOUNT` when
    it is none, :attr:`Trouble.AMBIGUOUS` when it is two."""
    decimal = unicodedata.normalize("NFKC", get_decimal_symbol(locale))
    group = unicodedata.normalize("NFKC", get_group_symbol(locale))
    body = body.removesuffix(f"{decimal}-")  # "Rp 150.000,-": no decimals
    if any(c not in "0123456789." and c not in (decimal, group) for c in body):
        return Trouble.NOT_AN_AMOUNT
    if decimal == "." or decimal in body or "." not in body:
        read = _strict(body, locale)  # the page's form
        return Trouble.NOT_AN_AMOUNT if read is None else read
    plain = Decimal(body) if _PLAIN.fullmatch(body) else None
    grouped = _strict(body, locale) if group == "." else None
    if plain is not None and grouped is not None:
        return Trouble.AMBIGUOUS if digits >= 3 else grouped
    read = grouped if grouped is not None else plain
    return Trouble.NOT_AN_AMOUNT if read is None else read


def _strict(body: str, locale: str) -> Decimal | None:
    """``body`` read as ``locale`` writes numbers, its grouping checked; ``None`` when it is
    not written so."""
    group = get_group_symbol(locale)
    if unicodedata.normalize("NFKC", group) != group:  # a narrow space, typed as a space
        body = body.replace(unicodedata.normalize("NFKC", group), group)
    try:
        value = parse_decimal(body, locale=locale, strict=True)
    except (NumberFormatError, InvalidOperation):
        return None
    return value if value.is_finite() else None
