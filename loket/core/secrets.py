"""Gateway secrets at rest: Fernet encryption with key rotation, and masking for output."""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections import OrderedDict

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from loket.errors import ConfigurationError


class SecretBox:
    """Encrypts and decrypts credential documents with the configured keys.

    :param keys: Fernet keys (url-safe base64 of 32 bytes), newest first. The first
        encrypts; every key decrypts, so old rows stay readable during a rotation.
    :raises ConfigurationError: at construction when a key is missing or malformed, so
        a bad ``LOKET_SECRET_KEY`` stops start-up instead of failing later.
    """

    def __init__(self, keys: tuple[str, ...]):
        if not keys:
            raise ConfigurationError("LOKET_SECRET_KEY is not set: generate one with "
                                     "`loket keys generate`")
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                if len(base64.urlsafe_b64decode(key.encode())) != 32:
                    raise ValueError("not 32 bytes")
                fernets.append(Fernet(key.encode()))
            except (ValueError, binascii.Error) as exc:
                raise ConfigurationError(
                    f"LOKET_SECRET_KEY key #{position} is malformed ({exc}); it must be "
                    f"url-safe base64 of 32 bytes, as `loket keys generate` prints") from None
        self._fernet = MultiFernet(fernets)
        # Decrypted credentials by ciphertext: every webhook and checkout reads its
        # gateway's, and Fernet's check and decryption cost more than the rest of building
        # the configuration. A changed secret is a new ciphertext (Fernet's IV is random),
        # so an entry is never stale; the oldest go beyond DECRYPTED_KEPT.
        self._decrypted: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def generate_key() -> str:
        """Return a new random key for ``LOKET_SECRET_KEY``."""
        return Fernet.generate_key().decode()

    def encrypt(self, document: dict) -> str:
        """Encrypt a credentials dict; returns an opaque token for the database."""
        return self._fernet.encrypt(json.dumps(document, sort_keys=True).encode()).decode()

    DECRYPTED_KEPT = 256
    """How many decrypted credential documents a process keeps (:meth:`decrypt_credentials`)."""

    def decrypt(self, token: str) -> dict:
        """Decrypt a token made by :meth:`encrypt` with any configured key (nothing kept:
        for what changes with each request, such as a session cookie)."""
        return json.loads(self._decrypt(token))

    def decrypt_credentials(self, token: str) -> dict:
        """Decrypt stored credentials (a gateway configuration's, a host endpoint's
        signing secret), keeping the plaintext for the next call with the same token.

        Called whenever a gateway's configuration is built (each webhook, checkout, refund)
        and each time a host event is signed.
        :returns: a new dict each call (the caller may change it).
        """
        with self._lock:
            plain = self._decrypted.get(token)
            if plain is not None:
                self._decrypted.move_to_end(token)
        if plain is None:
            plain = self._decrypt(token)
            with self._lock:
                self._decrypted[token] = plain
                while len(self._decrypted) > self.DECRYPTED_KEPT:
                    self._decrypted.popitem(last=False)
        return json.loads(plain)

    def _decrypt(self, token: str) -> bytes:
        try:
            return self._fernet.decrypt(token.encode())
        except InvalidToken:
            raise ConfigurationError("stored credentials cannot be decrypted with the "
                                     "configured LOKET_SECRET_KEY keys") from None

    def rotate(self, token: str) -> str:
        """Re-encrypt ``token`` with the newest key."""
        return self._fernet.rotate(token.encode()).decode()


def mask(value: str) -> str:
    """Mask a secret for display, keeping a recognisable prefix and the last 3 characters.

    ``sk_live_abcdef123458sd`` -> ``sk_live_…8sd``; short values become ``…``.
    """
    if not value:
        return ""
    if len(value) <= 6:
        return "…"
    prefix = ""
    for known in ("sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_", "pk_live_",
                  "pk_test_", "BRN-", "MCH-"):
        if value.startswith(known):
            prefix = known
            break
    return f"{prefix}…{value[-3:]}"


def masked_credentials(credentials: dict, secret_fields: tuple[str, ...]) -> dict:
    """Return ``credentials`` with the secret fields masked (others shown as entered)."""
    return {k: (mask(str(v)) if k in secret_fields else v) for k, v in credentials.items()}
