"""Currencies as Stripe sees them: decimals on the wire, minimum charges, supported codes.

loket's Money is already in minor units. Stripe's API agrees with it except for a few
currencies (ISK is zero-decimal in ISO 4217 but two-decimal in Stripe's API), so every amount
crosses the SDK boundary through :func:`to_stripe` / :func:`from_stripe` and nowhere else.
"""

from __future__ import annotations

from loket.plugin_api import GatewayError, Money, minor_digits

# https://stripe.com/docs/currencies#zero-decimal
ZERO_DECIMAL = frozenset(
    "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split())
# Three-decimal currencies: amounts must end in 0 (https://stripe.com/docs/currencies).
THREE_DECIMAL = frozenset("BHD JOD KWD OMR TND".split())

# Stripe's minimum charge per currency in Stripe's minor units (Stripe's table as transcribed
# in ../shared/reference/gateways.md, A6). Stripe defines minimums per settlement currency
# ("$0.50 US or equivalent"); a presentment currency outside the table must convert to at
# least that much. BGN left ISO 4217's current list when Bulgaria took the euro (2026).
STRIPE_TABLE = {
    "USD": 50, "AED": 200, "AUD": 50, "BRL": 50, "CAD": 50, "CHF": 50,
    "CZK": 1500, "DKK": 250, "EUR": 50, "GBP": 30, "HKD": 400, "HUF": 17500, "INR": 50,
    "JPY": 50, "MXN": 1000, "MYR": 200, "NOK": 300, "NZD": 50, "PLN": 200, "RON": 200,
    "SEK": 300, "SGD": 50,
}
# loket's own conservative minimums for presentment currencies Stripe's table lacks: about
# USD 0.60-0.70 at 2025 rates, so that the converted amount stays above USD 0.50 when the rate
# moves. Stripe publishes no IDR or KRW figure; these are not Stripe's numbers.
CONSERVATIVE = {
    "IDR": 1_000_000,  # IDR 10,000 (two-decimal in Stripe's API)
    "KRW": 1_000,      # KRW 1,000 (zero-decimal)
}
MINIMUM_CHARGE = {**STRIPE_TABLE, **CONSERVATIVE}

# The currencies loket charges in through Stripe: only those with a known minimum, so that a
# payment is never sent to Stripe without knowing whether it is large enough.
CURRENCIES = tuple(sorted(MINIMUM_CHARGE))


def stripe_digits(currency: str) -> int:
    """How many decimals Stripe's API uses for ``currency`` (0, 2 or 3)."""
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def to_stripe(money: Money) -> int:
    """Turn loket Money into the integer ``amount`` Stripe expects for its currency.

    :raises GatewayError: when the amount cannot be expressed on Stripe (a three-decimal
        amount not ending in 0, or a fraction Stripe has no unit for).
    """
    shift = stripe_digits(money.currency) - minor_digits(money.currency)
    if shift >= 0:
        amount = money.amount * 10**shift
    elif money.amount % 10**-shift:
        raise GatewayError(f"Stripe cannot charge {money} in {money.currency}: it has no unit "
                           "below the whole currency unit", field="amount")
    else:
        amount = money.amount // 10**-shift
    if money.currency.upper() in THREE_DECIMAL and amount % 10:
        raise GatewayError(f"Stripe requires {money.currency} amounts to end in 0 "
                           f"(got {money})", field="amount")
    return amount


def from_stripe(amount: int, currency: str) -> Money:
    """Turn a Stripe ``amount`` (and its lower-case or upper-case currency) into Money."""
    code = currency.upper()
    shift = stripe_digits(code) - minor_digits(code)
    if shift >= 0:
        return Money(int(amount) // 10**shift, code)
    return Money(int(amount) * 10**-shift, code)


def minimum_charge(currency: str) -> Money:
    """The smallest amount loket charges through Stripe in ``currency``.

    :raises GatewayError: for a currency without a known minimum (not one loket offers).
    """
    code = currency.upper()
    if code not in MINIMUM_CHARGE:
        raise GatewayError(f"loket does not charge in {code} through Stripe: it knows no "
                           f"minimum charge for it", field="currency")
    return from_stripe(MINIMUM_CHARGE[code], code)
