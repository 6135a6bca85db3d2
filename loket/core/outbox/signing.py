"""Signatures of the host webhooks:
``Loket-Signature: t=<unix>,v1=<hex HMAC-SHA256>[,v1=<hex HMAC-SHA256>]``.

The signed text is ``"<t>.<body>"`` with an endpoint's secret as the key. An endpoint has
one secret, and for a while after its secret was rotated two: the header then carries one
``v1`` per secret, the current one first, and a receiver accepts the delivery when any
``v1`` matches the secret it holds. A receiver refuses a signature whose ``t`` is more than
:data:`TOLERANCE_SECONDS` from its clock.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

HEADER = "Loket-Signature"
TOLERANCE_SECONDS = 300
SCHEME = "v1"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def header_value(secrets: str | Sequence[str], timestamp: int, body: bytes) -> str:
    """The ``Loket-Signature`` header value for a delivery made at ``timestamp``.

    Called for each attempt at a delivery to a host endpoint.

    :param secrets: the endpoint's secret, or its live secrets (current first): one
        ``v1=`` each, in that order.
    :raises ValueError: no secret.
    """
    keys = (secrets,) if isinstance(secrets, str) else tuple(secrets)
    if not keys:
        raise ValueError("a signature needs a secret")
    return ",".join([f"t={timestamp}", *(f"{SCHEME}={signature(key, timestamp, body)}"
                                         for key in keys)])


def parse(header: str) -> tuple[int | None, list[str]]:
    """A ``Loket-Signature`` value as a receiver reads it: its timestamp (``None`` when
    missing, malformed or given twice) and every ``v1`` signature, in order; pairs of other
    schemes are ignored."""
    timestamps: list[str] = []
    found: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if name == "t":
            timestamps.append(value.strip())
        elif name == SCHEME:
            found.append(value.strip())
    if len(timestamps) != 1 or not timestamps[0].isascii() or not timestamps[0].isdigit():
        return None, found
    return int(timestamps[0]), found


def verify(secret: str, header: str, body: bytes, now: int,
           tolerance: int = TOLERANCE_SECONDS) -> bool:
    """Whether any ``v1`` of ``header`` signs ``body`` with ``secret`` within ``tolerance``
    seconds of ``now`` (what a host's receiver does; loket's tests use it as the
    receiver)."""
    timestamp, found = parse(header)
    if timestamp is None or abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body).encode()
    return any([hmac.compare_digest(candidate.encode("utf-8", "replace"), expected)
                for candidate in found])
