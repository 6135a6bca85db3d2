"""Connections loket opens to a URL someone else chose: reading the URL the way the HTTP
client connects to it, telling public addresses from those of the operator's own network,
and a wall-clock limit on a whole conversation.

Used by the reconciliation downloads (:mod:`loket.core.reconciliation.sources`), the host
webhook deliveries (:mod:`loket.core.outbox.posting`) and the e-mail notifier.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from urllib.parse import urlsplit

import attrs
import urllib3

from loket.errors import ValidationFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
"""IPv6 addresses that a NAT64 gateway turns into the IPv4 address in their last 32 bits."""


@attrs.frozen
class HttpUrl:
    """An ``http(s)://`` URL as the HTTP client reads it: ``host`` without brackets,
    lower-case; ``port`` filled in from the scheme; ``target`` the path and query sent."""

    scheme: str
    host: str
    port: int
    target: str


def split_url(url: str, field: str = "url") -> HttpUrl:
    """Read an absolute ``http://`` or ``https://`` URL the way the HTTP client connects to
    it; a URL two readers could take for different hosts (backslashes, spaces, a user name,
    a host the URL parsers disagree on) is refused, as is a host ending in a dot or port 0.

    :raises ValidationFailed: naming ``field``, never quoting the URL (it may hold a
        credential).
    """
    if any(c.isspace() or c == "\\" for c in url):
        raise ValidationFailed("the URL must not hold spaces or backslashes", field=field)
    try:
        parts = urllib3.util.parse_url(url)  # what the HTTP client connects to
        split = urlsplit(url)
        other, other_port = (split.hostname or "").lower(), split.port
    except (urllib3.exceptions.LocationParseError, ValueError):
        raise ValidationFailed("the URL is not a valid address", field=field) from None
    scheme, host = (parts.scheme or "").lower(), (parts.host or "").strip("[]").lower()
    if scheme not in ("https", "http") or not host or host != other or host.endswith(".") \
            or parts.port == 0 or parts.port != other_port:
        raise ValidationFailed("the URL must be an absolute https:// (or http://) address",
                               field=field)
    if parts.auth or "@" in split.netloc:
        raise ValidationFailed("the URL must not carry a user name or password", field=field)
    return HttpUrl(scheme, host, parts.port or (443 if scheme == "https" else 80),
                   parts.request_uri)


def address_allowed(address: IPAddress) -> bool:
    """Is ``address`` one of the public internet, rather than loopback, private, link-local
    (cloud metadata services), shared, multicast, reserved or unspecified? An IPv4 address
    inside IPv6 (mapped, 6to4, NAT64) is judged as the IPv4 address it reaches."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (
            ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in NAT64 else None)
        if embedded is not None:
            return address_allowed(embedded)
        if address.is_site_local:
            return False
    return address.is_global and not (
        address.is_loopback or address.is_private or address.is_link_local
        or address.is_multicast or address.is_reserved or address.is_unspecified)


def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses ``host`` stands for (itself when it is one), in the order to try.

    :raises OSError: the name does not resolve (:class:`socket.gaierror`).
    """
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    found: list[IPAddress] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def refused_address(host: str, port: int) -> IPAddress | None:
    """The first address of ``host`` that is not public (:func:`address_allowed`), or
    ``None`` when all are.

    :raises OSError: the name does not resolve.
    """
    return next((a for a in resolve(host, port) if not address_allowed(a)), None)


Seconds = float
"""A duration in seconds (time, never money)."""


class Deadline:
    """A wall-clock limit on a conversation over sockets: once ``seconds`` have passed,
    every socket it watches is shut down, so a peer that answers a byte at a time cannot hold
    the caller past it (a socket's timeout bounds each read, not their sum).

    ``with Deadline(30) as limit:`` open sockets, ``limit.watch(sock)`` each; afterwards
    ``limit.expired`` says whether the limit cut the conversation short.
    """

    def __init__(self, seconds: Seconds) -> None:
        self.seconds = seconds
        self.expired = False
        self._ends = time.monotonic() + seconds
        self._handles: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        with self._lock:
            for handle in self._handles:
                handle.close()
            self._handles.clear()

    def remaining(self) -> Seconds:
        """Seconds left (0 once past)."""
        return max(self._ends - time.monotonic(), 0.0)

    def watch(self, sock: socket.socket) -> None:
        """Cut ``sock`` off at the deadline (also once TLS wraps it: the watch holds a
        duplicate of its descriptor, and a shutdown reaches every duplicate).

        :raises TimeoutError: the deadline has already passed.
        """
        with self._lock:
            if self.expired:
                raise TimeoutError(f"over {self.seconds:g} s")
            self._handles.append(sock.dup())

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for handle in self._handles:
                try:
                    handle.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed by its owner
