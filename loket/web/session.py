"""The console's sign-in session: one encrypted, HttpOnly, SameSite=Strict cookie holding the
credential the person typed (an API key or a consumer token) and a CSRF token.

The credential is authenticated again on every request exactly as the REST API does it
(:func:`loket.server.auth.authenticate`), so a revoked key or an expired token ends the
session at once; the cookie itself expires after :data:`SESSION_SECONDS`.
"""

from __future__ import annotations

import hmac
import secrets as pysecrets
from typing import Any

import attrs

from loket.errors import LoketError

COOKIE = "loket_console"
SIGNIN_COOKIE = "loket_signin"
SESSION_SECONDS = 8 * 3600


@attrs.frozen
class ConsoleSession:
    """What the cookie holds once decrypted.

    :param credential: the API key or consumer token (never shown, never logged).
    :param csrf: the token every form of this session must send back.
    """

    credential: str = attrs.field(repr=False)
    csrf: str = attrs.field(repr=False)
    expires: int


def new_session(credential: str, now: int) -> ConsoleSession:
    """A fresh session for ``credential`` signed in at ``now`` (unix seconds)."""
    return ConsoleSession(credential=credential, csrf=pysecrets.token_urlsafe(24),
                          expires=now + SESSION_SECONDS)


def seal(ctx: Any, session: ConsoleSession) -> str:
    """The cookie value: the session encrypted and authenticated with loket's secret keys."""
    return str(ctx.secrets.encrypt({"c": session.credential, "x": session.csrf,
                                    "e": session.expires}))


def unseal(ctx: Any, value: str | None, now: int) -> ConsoleSession | None:
    """The session in a cookie value; ``None`` when absent, altered, foreign or expired."""
    if not value:
        return None
    try:
        data = ctx.secrets.decrypt(value)
    except LoketError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("c"), str) or \
            not isinstance(data.get("x"), str) or not isinstance(data.get("e"), int):
        return None
    if data["e"] <= now:
        return None
    return ConsoleSession(credential=data["c"], csrf=data["x"], expires=data["e"])


def same_token(expected: str, sent: str | None) -> bool:
    """Compare a CSRF token in constant time (a missing one never matches)."""
    return bool(sent) and hmac.compare_digest(expected.encode(), (sent or "").encode())


def secure_cookies(ctx: Any) -> bool:
    """Whether cookies carry ``Secure``: when loket is served over HTTPS."""
    return str(ctx.config.base_url).startswith("https://")
