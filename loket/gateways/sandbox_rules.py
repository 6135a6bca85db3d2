"""What the sandbox gateway does on its side: the outcomes a payer can choose, how it signs
its webhooks, what it charges on settlement. Shared by the plugin and the hosted page."""

from __future__ import annotations

import hashlib
import hmac
import time

from loket.plugin_api import EVENT_EXPIRED, EVENT_FAILED, EVENT_SUCCEEDED, WebhookRejected

KIND = "sandbox"
SIGNATURE_HEADER = "sandbox-signature"
TOLERANCE_SECONDS = 300

OUTCOMES = {
    "pay": ("paid", EVENT_SUCCEEDED, None, None, None),
    "decline": ("declined", EVENT_FAILED, "declined", "insufficient_funds",
                "Your card has insufficient funds."),
    "network": ("network_error", EVENT_FAILED, "network", "network_error",
                "The card network could not be reached. No money was taken."),
    "cancel": ("cancelled", EVENT_FAILED, "abandoned", "cancelled",
               "You cancelled the payment."),
    "expire": ("expired", EVENT_EXPIRED, "expired", "expired", "The checkout expired."),
}


def signing_key(secret: str) -> str:
    """The key webhooks are signed with, derived from the configuration's secret: what the
    sandbox keeps in its own records, so the secret itself is never stored in plaintext
    beside loket's database."""
    return hashlib.sha256(b"loket-sandbox-signing:" + secret.encode()).hexdigest()


def sign_with_key(key: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``Sandbox-Signature`` header value for ``body``, from a :func:`signing_key`."""
    stamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(key.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``Sandbox-Signature`` header value for ``body`` from the configuration's secret."""
    return sign_with_key(signing_key(secret), body, timestamp)


def settlement_fee(amount: int) -> int:
    """The sandbox's fee for a settled amount (minor units): 2.9 % + 30, half-up."""
    return (amount * 29 + 500) // 1000 + 30


def verify_signature(secret: str, header: str | None, body: bytes) -> None:
    """Check a ``Sandbox-Signature`` header over ``body`` (fresh, made with ``secret``).

    :raises WebhookRejected: missing, malformed, wrong or too old.
    """
    if not header:
        raise WebhookRejected("missing Sandbox-Signature header")
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        stamp = int(parts["t"])
    except (KeyError, ValueError):
        raise WebhookRejected("malformed Sandbox-Signature header") from None
    expected = sign(secret, body, stamp).split("v1=")[1]
    if not hmac.compare_digest(expected, parts.get("v1", "")):
        raise WebhookRejected("signature does not match the body")
    if stamp < time.time() - TOLERANCE_SECONDS:
        raise WebhookRejected("signature timestamp is too old")
