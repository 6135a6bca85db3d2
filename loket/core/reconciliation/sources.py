"""Reconciliation files fetched from a URL: a report or statement the gateway or the bank
left in an object store (a presigned HTTPS link), read as it streams in and stored like an
upload (:func:`loket.core.reconciliation.runs.store_upload`).

loket fetches only from the hosts the operator lists in ``LOKET_REPORT_URL_HOSTS``: a URL
any API caller may choose must never make loket reach into its own network. Redirects are
not followed, for the same reason. Errors name the host, never the URL (a presigned URL's
query string is a credential).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import PurePosixPath
from typing import IO, cast
from urllib.parse import unquote, urlsplit

import requests

from loket.core.config import AppConfig
from loket.errors import ValidationFailed

TIMEOUT = (10, 60)
"""Seconds to connect, and to wait for each piece of the body."""


def is_url(text: str) -> bool:
    """Does ``text`` (a CLI argument) name an ``http(s)://`` URL rather than a file?"""
    return text.startswith(("https://", "http://"))


def allowed_host(config: AppConfig, url: str, field: str = "url") -> str:
    """Check that ``url`` is an http(s) URL on a host of ``LOKET_REPORT_URL_HOSTS``
    (``host`` or ``host:port``). Returns the host (for messages).

    :raises ValidationFailed: another scheme, no host, or a host not listed (naming
        ``field``).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValidationFailed("the URL must be an https:// (or http://) address of a file",
                               field=field)
    host = parts.hostname
    if host not in config.report_url_hosts and parts.netloc.rpartition("@")[2] not in \
            config.report_url_hosts:
        listed = ", ".join(config.report_url_hosts) or "none"
        raise ValidationFailed(f"loket does not fetch files from {host}: the operator lists "
                               f"the hosts it may fetch from in LOKET_REPORT_URL_HOSTS "
                               f"(listed: {listed})", field=field)
    return host


def file_name(url: str) -> str:
    """The file name a URL ends with (its path's last segment, query left out)."""
    return unquote(PurePosixPath(urlsplit(url).path).name)


@contextmanager
def fetched(config: AppConfig, url: str, field: str = "url") -> Iterator[IO[bytes]]:
    """Open ``url`` for reading, as a stream of its body's bytes (never whole in memory).

    Called by the API's file endpoints (JSON ``{"url": …}``) and by ``loket reconcile report
    URL``, which hand the stream to ``store_upload``.

    :raises ValidationFailed: a host not allowed (:func:`allowed_host`), no answer, or an
        answer other than 200 (a redirect included), naming ``field``.
    """
    host = allowed_host(config, url, field)
    try:
        response = requests.get(url, stream=True, allow_redirects=False, timeout=TIMEOUT)
    except requests.RequestException:
        raise ValidationFailed(f"{host} did not answer: check the URL and try again",
                               field=field) from None
    try:
        if response.status_code != 200:
            raise ValidationFailed(f"{host} answered HTTP {response.status_code} instead of "
                                   f"the file (an expired or wrong link?)", field=field)
        response.raw.decode_content = True
        yield cast(IO[bytes], response.raw)  # read a chunk at a time, as a file is
    finally:
        response.close()
