"""The per-source limit on guest identification attempts, kept in the database so every
API process shares it. One small function on purpose: the general limiter for public
endpoints replaces it without touching its callers.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, select
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
    row = GuestAttempt(tenant_id=tenant_id, source=source[:100], at=now, succeeded=False)
    session.add(row)
    return row
