"""The per-source limit on guest identification attempts, kept in the database so every
API process shares it. One small function on purpose: the general limiter for public
endpoints replaces it without touching its callers.

Attempts from one source are counted one at a time, so parallel requests cannot all be
counted below the limit: on PostgreSQL under a transaction-level advisory lock per tenant
and source, on SQLite because its writers queue (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from loket.core.models import GuestAttempt
from loket.errors import LoketError


class TooManyAttempts(LoketError):
    """Too many identification attempts from this source: wait ``retry_after`` seconds."""

    status = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, detail: str, retry_after: int):
        super().__init__(detail)
        self.retry_after = retry_after


def count_attempt(session: Session, tenant_id: int, source: str, now: dt.datetime,
                  attempts: int, window_seconds: int) -> GuestAttempt:
    """Count one attempt by ``source``, refusing it when ``attempts`` were already made in
    the last ``window_seconds``. Attempts older than the window are deleted as it goes.

    :returns: the attempt row (the caller marks it succeeded).
    :raises TooManyAttempts: over the limit (nothing is counted then).
    """
    source = source[:100]  # as stored
    if session.get_bind().dialect.name == "postgresql":
        # Until the caller's transaction ends, so that the next attempt counts this one.
        session.execute(_SERIALIZE, {"key": _lock_key(tenant_id, source)})
    since = now - dt.timedelta(seconds=window_seconds)
    session.execute(delete(GuestAttempt).where(GuestAttempt.tenant_id == tenant_id,
                                               GuestAttempt.source == source,
                                               GuestAttempt.at < since))
    made = session.scalar(select(func.count()).select_from(GuestAttempt).where(
        GuestAttempt.tenant_id == tenant_id, GuestAttempt.source == source,
        GuestAttempt.at >= since))
    if (made or 0) >= attempts:
        raise TooManyAttempts("too many identification attempts; try again later",
                              retry_after=window_seconds)
    row = GuestAttempt(tenant_id=tenant_id, source=source, at=now, succeeded=False)
    session.add(row)
    return row


_SERIALIZE = text("SELECT pg_advisory_xact_lock(:key)")


def _lock_key(tenant_id: int, source: str) -> int:
    """The advisory lock of a tenant's source: a signed 64-bit hash of both."""
    digest = hashlib.blake2b(f"guest-attempts:{tenant_id}:{source}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)
