"""DOKU's non-SNAP request signature (Checkout, check status, card refund, HTTP notification).

The string to sign is one ``Name:value`` line per component, joined with ``\\n`` and no
trailing newline::

    Client-Id:<client id>
    Request-Id:<request id>
    Request-Timestamp:<YYYY-MM-DDTHH:MM:SSZ>
    Request-Target:<path>
    Digest:<base64(SHA-256(body bytes))>      (only when there is a body; never for GET)

and ``Signature: HMACSHA256=<base64(HMAC-SHA256(secret key, string))>``. The digest covers
the exact bytes on the wire, so callers sign the bytes they send (or received).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping

PREFIX = "HMACSHA256="


def digest(body: bytes) -> str:
    """Return DOKU's ``Digest`` component: base64 of the SHA-256 of ``body``."""
    return base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def timestamp(moment: dt.datetime | None = None) -> str:
    """Return a ``Request-Timestamp`` (UTC, ``YYYY-MM-DDTHH:MM:SSZ``) for ``moment`` or now."""
    moment = moment or dt.datetime.now(dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def string_to_sign(client_id: str, request_id: str, request_timestamp: str, target: str,
                   body: bytes | None = None, *, timestamp_name: str = "Request-Timestamp") -> str:
    """Build the component string DOKU signs.

    :param body: the raw body; ``None`` (a GET) leaves the ``Digest`` line out entirely.
    :param timestamp_name: ``Response-Timestamp`` when signing a response.
    :returns: the lines joined with ``\\n``, no trailing newline.
    """
    lines = [
        f"Client-Id:{client_id}",
        f"Request-Id:{request_id}",
        f"{timestamp_name}:{request_timestamp}",
        f"Request-Target:{target}",
    ]
    if body is not None:
        lines.append(f"Digest:{digest(body)}")
    return "\n".join(lines)


def sign(secret_key: str, client_id: str, request_id: str, request_timestamp: str, target: str,
         body: bytes | None = None, *, timestamp_name: str = "Request-Timestamp") -> str:
    """Return the ``Signature`` header value (``HMACSHA256=...``) for these components."""
    text = string_to_sign(client_id, request_id, request_timestamp, target, body,
                          timestamp_name=timestamp_name)
    mac = hmac.new(secret_key.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).digest()
    return PREFIX + base64.b64encode(mac).decode("ascii")


def headers(client_id: str, secret_key: str, request_id: str, target: str,
            body: bytes | None = None, *, moment: dt.datetime | None = None) -> dict[str, str]:
    """Return the four signed headers for a request to ``target`` carrying ``body``."""
    ts = timestamp(moment)
    return {
        "Client-Id": client_id,
        "Request-Id": request_id,
        "Request-Timestamp": ts,
        "Signature": sign(secret_key, client_id, request_id, ts, target, body),
    }


def verify(secret_key: str, received: Mapping[str, str], target: str,
           body: bytes | None) -> bool:
    """Check a signed request's ``Signature`` header (constant-time).

    :param received: the headers, any letter case.
    :param target: the path the request was addressed to (for a notification: the path of
        the merchant's notification URL).
    :param body: the raw body as received, or ``None`` for a GET.
    :returns: ``True`` when every component is present and the signature matches.
    """
    lower = {k.lower(): v for k, v in received.items()}
    try:
        client_id = lower["client-id"]
        request_id = lower["request-id"]
        request_timestamp = lower["request-timestamp"]
        given = lower["signature"]
    except KeyError:
        return False
    expected = sign(secret_key, client_id, request_id, request_timestamp, target, body)
    return hmac.compare_digest(expected.encode("utf-8"), given.strip().encode("utf-8"))
