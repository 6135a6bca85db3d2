"""What every part of the DOKU emulator shares: the endpoints' paths, DOKU's request
signature (written out independently of the plugin), timestamps, the error body and the
order book (see :mod:`loket_doku.testing.emulator`)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re

DEFAULT_CLIENT_ID = "BRN-0001-1700000000001"
DEFAULT_SECRET_KEY = "SK-emulatorSecretKey0001"
CHECKOUT_PATH = "/checkout/v1/payment"
STATUS_PREFIX = "/orders/v1/status/"
REFUND_PATH = "/cancellation/credit-card/refund"
PAGE_PREFIX = "/checkout/link/"
RETRY_SCHEDULE = ("+30m", "+6h", "+12h")  # DOKU's retries after a failed delivery
WIB = dt.timezone(dt.timedelta(hours=7))
TIMESTAMP_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def doku_signature(secret: str, client_id: str, request_id: str, timestamp: str, target: str,
                   body: bytes | None, timestamp_name: str = "Request-Timestamp") -> str:
    """DOKU's ``HMACSHA256=`` signature over the header components (Digest only with a body)."""
    parts = [f"Client-Id:{client_id}", f"Request-Id:{request_id}",
             f"{timestamp_name}:{timestamp}", f"Request-Target:{target}"]
    if body is not None:
        parts.append("Digest:" + base64.b64encode(hashlib.sha256(body).digest()).decode())
    mac = hmac.new(secret.encode(), "\n".join(parts).encode(), hashlib.sha256).digest()
    return "HMACSHA256=" + base64.b64encode(mac).decode()


def utc_now() -> dt.datetime:
    """The current time, in UTC (when an order is created, paid or reported)."""
    return dt.datetime.now(dt.UTC)


def utc_stamp(moment: dt.datetime | None = None) -> str:
    """``moment`` (default now) as DOKU writes timestamps: ``2025-01-31T08:00:00Z``."""
    return (moment or utc_now()).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def api_error(code: str, message: str) -> dict:
    """The body of a refused API request: ``{"error": {"code", "message", "type"}}``."""
    return {"error": {"code": code, "message": message, "type": "invalid_request_error"}}


class Orders(dict):
    """Orders by invoice; ``orders[number]`` also finds the one order whose invoice is
    ``<tag>-<number>`` (``get`` and ``in`` stay exact, as DOKU's API is)."""

    def __missing__(self, key: str) -> dict:
        found = [o for invoice, o in self.items() if invoice.endswith(f"-{key}")]
        if len(found) != 1:
            raise KeyError(key)
        return found[0]


class Refused(Exception):
    """Raised while answering a request to answer it with HTTP ``status`` and ``body``."""

    def __init__(self, status: int, body: dict):
        super().__init__(body)
        self.status, self.body = status, body
