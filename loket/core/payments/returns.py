"""The payer's way back from a gateway to the tenant's own site: when a tenant sets
``return_url``, loket sends the payer there with the payment's result signed, so the
tenant's page can trust it without asking loket.

The signature is ``sig = hex(HMAC-SHA256(secret, "<t>.payment=<number>&status=<status>&
result=<result>"))`` with ``t`` the unix time it was made; the tenant's secret is
:func:`result_secret` (shown to its admins in the console).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

SIGNED_FIELDS = ("payment", "status", "result")
TOLERANCE_SECONDS = 300


def result_secret(ctx: Any, tenant_id: int) -> str:
    """The tenant's key for signed results: derived from loket's newest secret key, so it
    needs no storage (it changes when that key is rotated)."""
    key = str(ctx.config.secret_keys[0]).encode()
    return hmac.new(key, f"loket-return:{tenant_id}".encode(), hashlib.sha256).hexdigest()


def _message(t: int, values: dict[str, str]) -> bytes:
    return f"{t}.{urlencode([(k, values[k]) for k in SIGNED_FIELDS])}".encode()


def signed_result_url(secret: str, return_url: str, number: str, status: str, result: str,
                      now: int) -> str:
    """``return_url`` with ``payment``, ``status``, ``result``, ``t`` and ``sig`` added to
    its query (keeping what it already had).

    :param now: unix seconds, the signature's time.
    """
    values = {"payment": number, "status": status, "result": result}
    sig = hmac.new(secret.encode(), _message(now, values), hashlib.sha256).hexdigest()
    parts = urlsplit(return_url)
    query = "&".join(q for q in (parts.query, urlencode({**values, "t": now, "sig": sig})) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def verify_signed_result(secret: str, params: dict[str, str], now: int,
                         tolerance: int = TOLERANCE_SECONDS) -> bool:
    """Whether the query ``params`` of a signed result are loket's and fresh (what a tenant's
    return page does; loket's tests use it too)."""
    try:
        t = int(params["t"])
        values = {k: params[k] for k in SIGNED_FIELDS}
        sig = params["sig"]
    except (KeyError, ValueError):
        return False
    if abs(now - t) > tolerance:
        return False
    expected = hmac.new(secret.encode(), _message(t, values), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, sig)
