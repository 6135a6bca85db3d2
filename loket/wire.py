"""What crosses the wire between a gateway plugin and its gateway: amounts in major units,
exact JSON, HMAC signatures and callback tokens.

Every gateway plugin needs them and none should write them again; plugins import them from
:mod:`loket.plugin_api`. No function here takes or returns a float.

.. versionadded:: 1.3
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from loket.money import Money, minor_digits

Encoding = Literal["hex", "base64"]


def major_units(amount: Money) -> Decimal:
    """``amount`` in major units as an exact :class:`~decimal.Decimal` with the currency's
    ISO 4217 decimals: ``Money(12345, "USD")`` -> ``Decimal("123.45")``, ``Money(500,
    "JPY")`` -> ``Decimal("500")``, ``Money(1000000, "IDR")`` -> ``Decimal("10000.00")``.

    .. versionadded:: 1.3
    """
    return Decimal(amount.amount).scaleb(-minor_digits(amount.currency))


def whole_units(amount: Money) -> int:
    """``amount`` in whole major units, for gateways that take no fraction (rupiah at DOKU
    or Xendit): ``Money(1000000, "IDR")`` -> ``10000``.

    :raises ValueError: the amount has a fraction of a unit (naming it); round it first.

    .. versionadded:: 1.3
    """
    whole, fraction = divmod(amount.amount, 10 ** minor_digits(amount.currency))
    if fraction:
        raise ValueError(f"{amount} has a fraction of a {amount.currency} unit; this gateway "
                         f"takes whole units only")
    return whole


def from_major(value: str | int | Decimal, currency: str) -> Money:
    """Read an amount the gateway wrote in major units (``"123.45"``, ``10000``, a
    ``Decimal`` from :func:`loads`) into :class:`~loket.money.Money`.

    :raises TypeError: for a float (read the JSON with :func:`loads`, which gives Decimals).
    :raises ValueError: not a number, or more decimals than the currency has.

    .. versionadded:: 1.3
    """
    if isinstance(value, float) or isinstance(value, bool):
        raise TypeError(f"amount {value!r} is a {type(value).__name__}: read gateway JSON "
                        "with loket.plugin_api.loads (decimals become Decimal)")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"amount {value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"amount {value!r} is not a finite number")
    minor = number.scaleb(minor_digits(currency))
    if minor != minor.to_integral_value():
        raise ValueError(f"amount {value!r} has more decimals than {currency} has "
                         f"({minor_digits(currency)})")
    return Money(int(minor), currency)


def _replace_numbers(value: Any, found: list[str], mark: str) -> Any:
    if isinstance(value, float):
        raise TypeError(f"float {value!r} in a gateway payload: use int minor units, a "
                        "Decimal, or Money (loket.plugin_api.major_units)")
    if isinstance(value, Money):
        value = major_units(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} cannot be written as a JSON number")
        found.append(format(value, "f"))
        return f"{mark}{len(found) - 1}@"
    if isinstance(value, dict):
        return {k: _replace_numbers(v, found, mark) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_replace_numbers(v, found, mark) for v in value]
    return value


def dumps(payload: Any, *, compact: bool = True) -> bytes:
    """Serialize a gateway payload to UTF-8 JSON, writing :class:`~decimal.Decimal` and
    :class:`~loket.money.Money` (major units) as exact JSON numbers (``10000.00`` stays
    ``10000.00``). These are the bytes to sign and send.

    :raises TypeError: the payload holds a float.

    .. versionadded:: 1.3
    """
    numbers: list[str] = []
    mark = f"@loket-number-{secrets.token_hex(8)}-"  # unguessable: no payload string collides
    prepared = _replace_numbers(payload, numbers, mark)
    text = json.dumps(prepared, ensure_ascii=False,
                      separators=(",", ":") if compact else (", ", ": "))
    for index, number in enumerate(numbers):
        text = text.replace(f'"{mark}{index}@"', number, 1)
    return text.encode("utf-8")


def loads(raw: bytes | str) -> Any:
    """Parse gateway JSON without floats: decimals become :class:`~decimal.Decimal`.

    :raises ValueError: not JSON (``json.JSONDecodeError``) or not UTF-8.

    .. versionadded:: 1.3
    """
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    return json.loads(text, parse_float=Decimal)


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def hmac_sha256(secret: str | bytes, message: str | bytes, encoding: Encoding = "hex") -> str:
    """The HMAC-SHA256 of ``message`` under ``secret``, as lower-case hex or base64.

    .. versionadded:: 1.3
    """
    digest = hmac.new(_as_bytes(secret), _as_bytes(message), hashlib.sha256).digest()
    return digest.hex() if encoding == "hex" else base64.b64encode(digest).decode("ascii")


def verify_hmac_sha256(secret: str | bytes, message: str | bytes, given: str | None,
                       encoding: Encoding = "hex") -> bool:
    """Whether ``given`` is the HMAC-SHA256 of ``message`` under ``secret`` (constant-time;
    ``False`` for a missing value). Hex is compared case-insensitively.

    .. versionadded:: 1.3
    """
    if not given:
        return False
    expected = hmac_sha256(secret, message, encoding)
    candidate = given.strip().lower() if encoding == "hex" else given.strip()
    return hmac.compare_digest(expected.encode("ascii"), candidate.encode("utf-8"))


def tokens_match(expected: str, given: str | None) -> bool:
    """Whether a callback token (a fixed secret header such as Xendit's
    ``x-callback-token``) equals the configured one, in constant time. A match proves only
    who sent the request, not what it says: fetch the object from the gateway before
    believing the body.

    .. versionadded:: 1.3
    """
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.strip().encode("utf-8"))
