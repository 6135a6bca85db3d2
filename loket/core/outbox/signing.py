"""Signatures of the host webhooks: ``Loket-Signature: t=<unix>,v1=<hex HMAC-SHA256>``.

The signed text is ``"<t>.<body>"`` with the endpoint's secret as the key; a receiver
refuses a signature whose ``t`` is more than :data:`TOLERANCE_SECONDS` from its clock.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "Loket-Signature"
TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def header_value(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Loket-Signature`` header value for a delivery made at ``timestamp``."""
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify(secret: str, header: str, body: bytes, now: int,
           tolerance: int = TOLERANCE_SECONDS) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance`` seconds of
    ``now`` (what a host's receiver does; loket's tests use it as the receiver)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(parts.get("v1", ""), signature(secret, timestamp, body))
