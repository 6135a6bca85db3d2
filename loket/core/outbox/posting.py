"""Host events over HTTP: the signed POST of one event to a host's webhook endpoint.

A tenant chooses the URL, so the worker must not become its way into the operator's
network: every send looks the host's name up again (DNS may have changed since the
endpoint was registered), refuses it when any of its addresses is loopback, private,
link-local, multicast or reserved (unless ``LOKET_HOST_WEBHOOKS_ALLOW_PRIVATE``), and
connects to the address it checked. Redirects are not followed and the environment's proxy
settings are not used. A whole send (connecting, TLS, the request, the answer's status)
takes at most :data:`SEND_DEADLINE`, well within the delivery's lease, however slowly the
receiver trickles. A failure is stored in coarse words a tenant may read
(:data:`PUBLIC_ERRORS`, an HTTP status); its details are logged for the operator.
"""

from __future__ import annotations

import functools
import http.client
import json
import logging
import re
import socket
import ssl
from collections.abc import Sequence

import attrs
import requests.utils

from loket.core import net
from loket.core.models import OutboxEvent
from loket.core.outbox import signing
from loket.errors import ValidationFailed

log = logging.getLogger(__name__)

SEND_DEADLINE = 30.0
"""Seconds one send may take in all; the lease (:data:`~loket.core.outbox.delivery.LEASE`)
is four times as long, so a send never outlives its lease."""
SOCKET_TIMEOUT = 10.0
"""Seconds to connect, and to wait for each piece of the answer."""

CONNECTION_FAILED = "connection failed"
TIMEOUT = "timeout"
NOT_ALLOWED = "refused: address not allowed"
HTTPS_REQUIRED = "refused: https required"
NOT_PREPARED = "not sent: internal error"
ENDPOINT_DELETED = "endpoint deleted"
ENDPOINT_GONE = "the endpoint of this delivery is gone"
PUBLIC_ERRORS = (CONNECTION_FAILED, TIMEOUT, NOT_ALLOWED, HTTPS_REQUIRED, NOT_PREPARED,
                 ENDPOINT_DELETED, ENDPOINT_GONE)
"""What a tenant may read of a failed delivery to its endpoint, besides ``HTTP <status>``."""
HTTP_STATUS = re.compile(r"HTTP [0-9]{3}")


@attrs.frozen
class Outcome:
    """What one attempt did: delivered or not, the HTTP status or provider reference."""

    delivered: bool
    status_code: int | None = None
    reference: str | None = None
    error: str | None = None
    final: bool = False
    """The receiver refused for good (:class:`~loket.errors.Undeliverable`): no retry."""


def body_of(event: OutboxEvent) -> bytes:
    """The exact bytes a host endpoint receives for an event (the same on every attempt)."""
    return json.dumps(event.payload, sort_keys=True, separators=(",", ":")).encode()


def public_error(error: str | None) -> str | None:
    """The last error of a delivery to an endpoint in the words its tenant may read: one
    of :data:`PUBLIC_ERRORS` or ``HTTP <status>``; an older row's exception text is reduced
    to ``timeout``, ``connection failed`` or ``failed``."""
    if error is None or error in PUBLIC_ERRORS or HTTP_STATUS.fullmatch(error):
        return error
    name = error.split(":", 1)[0]
    if "Timeout" in name:
        return TIMEOUT
    if name.endswith(("ConnectionError", "SSLError")):
        return CONNECTION_FAILED
    return "failed"


def post_signed(url: str, secrets: str | Sequence[str], event: OutboxEvent, now: int,
                allow_private: bool = False) -> Outcome:
    """POST an event to a host endpoint, signed; a 2xx answer is a delivery.

    Called by the outbox worker for each attempt at a delivery to an endpoint.

    :param secrets: the endpoint's live signing secrets, current first (one signature
        each, :func:`~loket.core.outbox.signing.header_value`).
    :param now: the signature's timestamp (Unix seconds).
    :param allow_private: ``LOKET_HOST_WEBHOOKS_ALLOW_PRIVATE``: any address, plain http.
    :returns: the outcome; never raises for what the network or the receiver does.
    """
    body = body_of(event)
    headers = {"Content-Type": "application/json", "User-Agent": "loket-webhooks",
               signing.HEADER: signing.header_value(secrets, now, body),
               "Loket-Event-Id": event.event_id, "Loket-Event-Type": event.type,
               "Connection": "close"}
    try:
        target = net.split_url(url)
    except ValidationFailed:
        return Outcome(False, error=NOT_ALLOWED)
    if target.scheme != "https" and not allow_private:
        return Outcome(False, error=HTTPS_REQUIRED)
    with net.Deadline(SEND_DEADLINE) as limit:
        try:
            status = _exchange(target, body, headers, limit, allow_private)
        except _Refused as refused:
            log.warning("host endpoint %s refused: it resolves to %s", target.host,
                        refused.address)
            return Outcome(False, error=NOT_ALLOWED)
        except (OSError, http.client.HTTPException) as exc:
            error = TIMEOUT if limit.expired or isinstance(exc, TimeoutError) \
                else CONNECTION_FAILED
            log.info("host endpoint %s:%s: %s (%s: %s)", target.host, target.port, error,
                     type(exc).__name__, exc)
            return Outcome(False, error=error)
    if limit.expired:  # an answer cut off may still read as complete
        log.info("host endpoint %s:%s: over %g s", target.host, target.port, SEND_DEADLINE)
        return Outcome(False, error=TIMEOUT)
    if 200 <= status < 300:
        return Outcome(True, status)
    return Outcome(False, status, error=f"HTTP {status}")


class _Refused(Exception):
    def __init__(self, address: net.IPAddress) -> None:
        super().__init__(str(address))
        self.address = address


def _exchange(target: net.HttpUrl, body: bytes, headers: dict[str, str],
              limit: net.Deadline, allow_private: bool) -> int:
    """Send the request; returns the answer's status (its body is not read)."""
    connection = _Connection(target, limit, allow_private)
    try:
        connection.request("POST", target.target, body=body, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


class _Connection(http.client.HTTPConnection):
    """A connection to the address :func:`_open` admits, TLS-verified for https."""

    def __init__(self, target: net.HttpUrl, limit: net.Deadline, allow_private: bool):
        super().__init__(target.host, target.port, timeout=SOCKET_TIMEOUT)
        self.target, self.limit, self.allow_private = target, limit, allow_private
        if target.scheme == "https":
            self.default_port = 443  # the Host header names no port for 443

    def connect(self) -> None:
        sock = _open(self.target, self.limit, self.allow_private)
        if self.target.scheme == "https":
            try:
                sock = _tls().wrap_socket(sock, server_hostname=self.target.host)
            except BaseException:
                sock.close()
                raise
        self.sock = sock


def _open(target: net.HttpUrl, limit: net.Deadline, allow_private: bool) -> socket.socket:
    addresses = net.resolve(target.host, target.port)
    if not allow_private:
        refused = next((a for a in addresses if not net.address_allowed(a)), None)
        if refused is not None:
            raise _Refused(refused)
    failure: OSError = OSError(f"{target.host} has no address")
    for address in addresses:
        timeout = max(min(SOCKET_TIMEOUT, limit.remaining()), 0.001)
        try:
            sock = socket.create_connection((str(address), target.port), timeout=timeout)
        except OSError as exc:
            failure = exc
            continue
        try:
            limit.watch(sock)
        except BaseException:
            sock.close()
            raise
        return sock
    raise failure


@functools.cache
def _tls() -> ssl.SSLContext:
    """Certificates checked against the CA bundle loket's other HTTP calls use."""
    return ssl.create_default_context(cafile=requests.utils.DEFAULT_CA_BUNDLE_PATH)
