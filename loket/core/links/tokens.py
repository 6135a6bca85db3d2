"""The token in a payment link's URL (``/pay/{token}``): the link's random key, signed.

A forged or altered token is indistinguishable from an unknown link (404).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from loket.errors import NotFound


def new_key() -> str:
    """A new random link key (``pl_`` + 128 bits)."""
    return f"pl_{secrets.token_urlsafe(16)}"


def _mac(secret_key: str, key: str) -> str:
    digest = hmac.new(hashlib.sha256(b"loket-pay-link:" + secret_key.encode()).digest(),
                      key.encode(), hashlib.sha256).hexdigest()
    return digest[:32]


def token_for(secret_key: str, key: str) -> str:
    """The URL token of link ``key``: ``<key>.<mac>``."""
    return f"{key}.{_mac(secret_key, key)}"


def key_of(secret_keys: tuple[str, ...], token: str) -> str:
    """The link key a token carries, once its MAC checks out under any current key.

    :raises NotFound: a malformed or forged token.
    """
    key, _, mac = token.rpartition(".")
    if key.startswith("pl_") and mac and mac.isascii() and any(
            hmac.compare_digest(mac, _mac(secret, key)) for secret in secret_keys):
        return key
    raise NotFound("no such payment link")
