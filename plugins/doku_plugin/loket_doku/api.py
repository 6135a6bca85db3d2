"""A thin client for DOKU's non-SNAP HTTP API: signed JSON requests with ``requests``.

Every call is signed over the exact bytes sent. DOKU answers a repeated ``Request-Id`` with
HTTP 409 and the original body (its idempotency rule); :meth:`DokuClient.send` reports that
as ``replayed=True`` so callers can treat it as the original answer. A 409 whose body is an
*error* (the Request-Id was reused for a different request) is a refusal and raises.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import attrs
import requests

from loket.plugin_api import GatewayConfig, GatewayError, dumps, loads
from loket_doku import signature

BASE_URLS = {
    "sandbox": "https://api-sandbox.doku.com",
    "production": "https://api.doku.com",
}
CHECKOUT_PATH = "/checkout/v1/payment"
STATUS_PATH = "/orders/v1/status/{invoice}"
CARD_REFUND_PATH = "/cancellation/credit-card/refund"
TIMEOUT_SECONDS = 20


class DokuHTTPError(GatewayError):
    """DOKU answered with an error status; ``http_status`` keeps the HTTP code."""

    def __init__(self, detail: str, *, http_status: int, **kwargs: Any):
        super().__init__(detail, **kwargs)
        self.http_status = http_status


@attrs.frozen
class DokuResponse:
    """A decoded DOKU answer: HTTP ``status``, JSON ``body``, ``replayed`` for a 409 replay."""

    status: int
    body: dict
    replayed: bool = False


def encode(payload: dict) -> bytes:
    """Serialize a request body compactly; these exact bytes are signed and sent."""
    return dumps(payload)


def decode(raw: bytes) -> Any:
    """Parse DOKU JSON without floats (decimals become :class:`decimal.Decimal`)."""
    return loads(raw)


def base_url(config: GatewayConfig, credentials: dict | None = None) -> str:
    """Return the API base URL of the environment the credentials name.

    ``credentials`` are the ones being validated (a first save has none stored yet); the
    stored ones otherwise. ``options["api_base"]`` replaces the host of every environment,
    ``options["api_bases"]`` (``{"sandbox": url, "production": url}``) one environment's.
    """
    creds = credentials if credentials is not None else config.credentials
    environment = creds.get("environment") or "sandbox"
    override = config.options.get("api_bases", {}).get(environment) or config.options.get(
        "api_base")
    if override:
        return str(override).rstrip("/")
    return BASE_URLS.get(environment, BASE_URLS["sandbox"])


def error_parts(body: Any) -> tuple[str | None, str | None]:
    """Pull DOKU's own error message and code out of an error body (several shapes seen)."""
    if not isinstance(body, dict):
        return None, None
    error = body.get("error") if isinstance(body.get("error"), dict) else body
    message = error.get("message")
    if isinstance(message, list):
        message = ", ".join(str(m) for m in message)
    code = error.get("code") or error.get("type")
    return (str(message) if message else None), (str(code) if code else None)


def is_auth_refusal(exc: DokuHTTPError) -> bool:
    """True when DOKU refused the request because of the keys (signature or Client-Id)."""
    words = f"{exc.gateway_code or ''} {exc.gateway_message or ''}".lower()
    return exc.http_status in (401, 403) or "signature" in words or "client" in words


def is_replay(body: Any) -> bool:
    """True when a 409 body is DOKU's replay of an original answer, not an error.

    DOKU replays the original body for a repeated Request-Id with the same request; a
    Request-Id reused with another body gets an error object instead (``{"error": …}``).
    """
    return isinstance(body, dict) and bool(body) and "error" not in body


class DokuClient:
    """Signed calls to one DOKU merchant account.

    :param base: the API base URL (see :func:`base_url`).
    :param client_id: DOKU Client ID (``BRN-…``/``MCH-…``).
    :param secret_key: the Secret Key that signs requests.
    :param session: a ``requests.Session`` to reuse (one is created otherwise).
    """

    def __init__(self, base: str, client_id: str, secret_key: str, *,
                 session: requests.Session | None = None, timeout: int = TIMEOUT_SECONDS):
        self.base = base.rstrip("/")
        self.client_id = client_id
        self.secret_key = secret_key
        self.session = session or requests.Session()
        self.timeout = timeout

    @classmethod
    def for_config(cls, config: GatewayConfig, credentials: dict | None = None) -> DokuClient:
        """Build a client from a configuration (or from ``credentials`` being validated)."""
        creds = credentials if credentials is not None else config.credentials
        return cls(base_url(config, creds), creds["client_id"], creds["secret_key"])

    def send(self, method: str, path: str, request_id: str,
             payload: dict | None = None) -> DokuResponse:
        """Sign and send one request.

        :param method: ``GET`` or ``POST``.
        :param path: the path, also the signed ``Request-Target``.
        :param request_id: the ``Request-Id`` (DOKU's idempotency key).
        :param payload: the JSON body for a POST; ``None`` for a GET (no Digest is signed).
        :returns: a :class:`DokuResponse`; a 409 replaying the original answer comes back
            with ``replayed=True``.
        :raises DokuHTTPError: for any other non-2xx answer, including a 409 whose body is an
            error (a Request-Id reused with a different body), with DOKU's own words.
        :raises GatewayError: when DOKU cannot be reached or answers something not JSON.
        """
        body = encode(payload) if payload is not None else None
        headers = signature.headers(self.client_id, self.secret_key, request_id, path, body)
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = self.session.request(method, self.base + path, data=body,
                                            headers=headers, timeout=self.timeout)
        except requests.Timeout as exc:
            raise GatewayError("DOKU did not answer in time", gateway_message=str(exc),
                               category="timeout") from exc
        except requests.RequestException as exc:
            raise GatewayError("DOKU could not be reached", gateway_message=str(exc),
                               category="network") from exc
        try:
            decoded = decode(response.content) if response.content else {}
        except (ValueError, UnicodeDecodeError):
            decoded = None
        if 200 <= response.status_code < 300 or (response.status_code == 409
                                                  and is_replay(decoded)):
            if not isinstance(decoded, dict):
                raise GatewayError(f"DOKU answered HTTP {response.status_code} without JSON",
                                   gateway_message=response.text[:500])
            return DokuResponse(response.status_code, decoded, response.status_code == 409)
        message, code = error_parts(decoded)
        raise DokuHTTPError(
            f"DOKU refused the request (HTTP {response.status_code})"
            + (f": {message}" if message else ""),
            http_status=response.status_code,
            gateway_message=message or response.text[:500],
            gateway_code=code or str(response.status_code),
            category="technical" if response.status_code >= 500 else "declined",
        )

    def create_checkout(self, payload: dict, request_id: str) -> DokuResponse:
        """POST ``/checkout/v1/payment``: create a hosted checkout for one invoice."""
        return self.send("POST", CHECKOUT_PATH, request_id, payload)

    def check_status(self, invoice_number: str, request_id: str) -> DokuResponse:
        """GET ``/orders/v1/status/{invoice}`` (GET signature: no Digest)."""
        path = STATUS_PATH.format(invoice=quote(invoice_number, safe=""))
        return self.send("GET", path, request_id)

    def refund_card(self, payload: dict, request_id: str) -> DokuResponse:
        """POST ``/cancellation/credit-card/refund`` (full or partial card refund)."""
        return self.send("POST", CARD_REFUND_PATH, request_id, payload)
