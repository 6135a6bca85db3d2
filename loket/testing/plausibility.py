"""Rough sizes of money for the conformance kit's plausibility checks.

``UNITS_PER_USD`` holds approximate exchange rates (major units of each currency per US
dollar, 2026 magnitudes). They only size a ceiling: a gateway minimum above about 100 USD is
almost certainly a digits mistake (minor units written as major, or a currency's decimals
misread), so a factor of two either way changes no verdict. Currencies not listed are not
checked.
"""

from __future__ import annotations

from decimal import Decimal

from loket.money import Money, minor_digits

UNITS_PER_USD = {
    "USD": "1", "EUR": "0.9", "GBP": "0.8", "CHF": "0.9", "JPY": "150", "KRW": "1400",
    "CNY": "7.2", "HKD": "7.8", "TWD": "32", "SGD": "1.35", "MYR": "4.5", "THB": "35",
    "PHP": "57", "IDR": "16000", "VND": "25000", "INR": "85", "PKR": "280", "BDT": "120",
    "LKR": "300", "NPR": "135", "AED": "3.67", "SAR": "3.75", "QAR": "3.64", "KWD": "0.31",
    "BHD": "0.38", "OMR": "0.385", "JOD": "0.71", "TND": "3.1", "EGP": "50", "NGN": "1500",
    "KES": "130", "ZAR": "18", "GHS": "15", "TZS": "2600", "UGX": "3700", "BRL": "5.5",
    "MXN": "18", "CLP": "950", "COP": "4000", "PEN": "3.7", "ARS": "1000", "AUD": "1.5",
    "NZD": "1.7", "CAD": "1.4", "SEK": "10.5", "NOK": "10.8", "DKK": "6.9", "PLN": "4",
    "CZK": "23", "HUF": "360", "RON": "4.6", "TRY": "40", "ILS": "3.7", "UAH": "41",
    "KZT": "500", "ISK": "140", "CLF": "0.026",
}
CEILING_USD = 100


def ceiling(currency: str) -> Money | None:
    """About ``CEILING_USD`` US dollars in ``currency``, or ``None`` for an unlisted one."""
    rate = UNITS_PER_USD.get(currency)
    if rate is None:
        return None
    major = Decimal(rate) * CEILING_USD
    return Money(int(major.scaleb(minor_digits(currency))), currency)
