"""Reconciliation files fetched from a URL: a report or statement the gateway or the bank
left in an object store (a presigned HTTPS link), downloaded to a file of its own before
any transaction opens, then stored like an upload
(:func:`loket.core.reconciliation.runs.store_upload`).

loket fetches only from the hosts the operator lists in ``LOKET_REPORT_URL_HOSTS``: a URL
any API caller may choose must never make loket reach into its own network. The host is
read the way the HTTP client connects to it, a URL the two could read differently
(backslashes, spaces, a user name) is refused, and redirects are not followed. Errors name
the host, never the URL (a presigned URL's query string is a credential).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

import requests
import urllib3

from loket.core import net
from loket.core.config import AppConfig
from loket.errors import TooLarge, ValidationFailed

TIMEOUT = (10, 60)
"""Seconds to connect, and to wait for each piece of the body."""
DEADLINE = 600
"""Seconds a whole download may take."""
CHUNK = 1 << 20
LOOPBACK = ("127.0.0.1", "::1", "localhost")
"""Hosts that may be fetched over plain ``http://`` (a store on the same machine)."""


def is_url(text: str) -> bool:
    """Does ``text`` (a CLI argument) name an ``http(s)://`` URL rather than a file?"""
    return text[:8].lower().startswith(("https://", "http://"))


def allowed_host(config: AppConfig, url: str, field: str = "url") -> str:
    """Check that ``url`` is an https URL (http on loopback) on a host of
    ``LOKET_REPORT_URL_HOSTS`` (``host``, any port, or ``host:port``). Returns the host.

    :raises ValidationFailed: naming ``field``, never quoting the URL.
    """
    parts = net.split_url(url, field)
    host = parts.host
    if parts.scheme == "http" and host not in LOOPBACK:
        raise ValidationFailed("the URL must be an https:// address (its link is a credential)",
                               field=field)
    listed = {h.strip().lower() for h in config.report_url_hosts}
    named = f"[{host}]" if ":" in host else host
    if named not in listed and host not in listed and f"{named}:{parts.port}" not in listed:
        raise ValidationFailed(f"loket does not fetch files from {host}: the operator lists "
                               f"the hosts it may fetch from in LOKET_REPORT_URL_HOSTS",
                               field=field)
    return host


def file_name(url: str) -> str:
    """The file name a URL ends with (its path's last segment, query left out; empty for
    what is no URL)."""
    try:
        return unquote(PurePosixPath(urlsplit(url).path).name)
    except ValueError:
        return ""


@contextmanager
def downloaded(config: AppConfig, url: str, folder: Path, field: str = "url"
               ) -> Iterator[tuple[Path, int]]:
    """Download ``url`` to a file of its own under ``folder`` (a chunk at a time, never
    whole in memory); yields ``(path, newlines)`` and deletes the file afterwards.

    Called by ``POST /v1/reconciliation/runs`` and ``loket reconcile report URL`` before
    they open a transaction to store the file as an upload.

    :raises ValidationFailed: a host not allowed (:func:`allowed_host`), no answer, an
        answer other than 200 (a redirect included), a compressed body, a download broken
        off or slower than :data:`DEADLINE`; naming ``field`` and the host only.
    :raises TooLarge: more than ``max_upload_bytes``.
    """
    host = allowed_host(config, url, field)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f".fetch-{uuid.uuid4().hex}.part"
    try:
        newlines = _fetch(config, url, host, target, field)
        yield target, newlines
    finally:
        target.unlink(missing_ok=True)


@contextmanager
def named_file(config: AppConfig, source: str, folder: Path, field: str = "file"
               ) -> Iterator[tuple[Path, str, int | None]]:
    """The file a command names: a path, or an http(s) URL downloaded first
    (:func:`downloaded`). Yields ``(path, file name, newlines)``; newlines are counted only
    for a download (``None`` for a path)."""
    if not is_url(source):
        yield Path(source), Path(source).name, None
        return
    with downloaded(config, source, folder, field) as (path, newlines):
        yield path, file_name(source), newlines


def _fetch(config: AppConfig, url: str, host: str, target: Path, field: str) -> int:
    started = time.monotonic()
    client = requests.Session()
    client.trust_env = False  # no proxy or .netrc from the environment sees the link
    try:
        response = client.get(url, stream=True, allow_redirects=False, timeout=TIMEOUT,
                              headers={"Accept-Encoding": "identity"})
    except requests.RequestException:
        raise ValidationFailed(f"{host} did not answer: check the URL and try again",
                               field=field) from None
    with client, response:
        if response.status_code != 200:
            raise ValidationFailed(f"{host} answered HTTP {response.status_code} instead of "
                                   f"the file (an expired or wrong link?)", field=field)
        if response.headers.get("Content-Encoding", "identity").lower() not in ("identity", ""):
            raise ValidationFailed(f"{host} sent the file compressed; loket reads a file as "
                                   f"it was delivered", field=field)
        size = newlines = 0
        try:
            with target.open("wb") as out:
                # read1: what has arrived, so a trickle cannot outlast the deadline.
                while chunk := response.raw.read1(CHUNK, decode_content=False):
                    size += len(chunk)
                    if size > config.max_upload_bytes:
                        raise TooLarge(f"the file is over {config.max_upload_bytes:,} bytes",
                                       field=field)
                    if time.monotonic() - started > DEADLINE:
                        raise ValidationFailed(f"{host} took more than {DEADLINE} s to send "
                                               f"the file", field=field)
                    newlines += chunk.count(b"\n")
                    out.write(chunk)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError):
            raise ValidationFailed(f"{host} broke off sending the file: try again",
                                   field=field) from None
    if size == 0:
        raise ValidationFailed("the file is empty", field=field)
    return newlines
