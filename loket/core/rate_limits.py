"""Per-source rate limits: fixed windows counted in the database, so every API process on
every machine counts against the same limit (SQLite for one machine, PostgreSQL for many).

One statement per request: an upsert that adds the hit and returns the window's count
(``INSERT … ON CONFLICT DO UPDATE … RETURNING``, which both backends speak).
"""

from __future__ import annotations

import attrs
from sqlalchemy import delete

from loket.core.db import conflict_insert
from loket.core.models import RateLimitWindow


@attrs.frozen
class Verdict:
    """The outcome of one hit: allowed or not, and when the window ends."""

    allowed: bool
    hits: int
    retry_after: int


def hit(ctx, bucket: str, limit: int, window_seconds: int) -> Verdict:
    """Count one request of ``bucket`` (e.g. ``"public:203.0.113.9"``) in the current window.

    Called by the public endpoints' middleware for every request. Commits on its own, so
    a refused request is counted too.

    :param limit: requests allowed per window; 0 or less allows everything (nothing counted).
    :returns: the :class:`Verdict`; ``retry_after`` is the number of seconds until the
        window ends (at least 1).
    """
    now = ctx.now().timestamp()
    start = int(now // window_seconds * window_seconds)
    retry_after = max(1, int(start + window_seconds - now + 0.999))
    if limit <= 0:
        return Verdict(True, 0, retry_after)
    values = conflict_insert(ctx.engine, RateLimitWindow).values(
        bucket=bucket[:120], window_start=start, hits=1)
    statement = values.on_conflict_do_update(
        index_elements=[RateLimitWindow.bucket, RateLimitWindow.window_start],
        set_={"hits": RateLimitWindow.hits + 1}).returning(RateLimitWindow.hits)
    with ctx.transaction() as session:
        hits = int(session.execute(statement).scalar_one())
    return Verdict(hits <= limit, hits, retry_after)


def forget_old_windows(ctx, older_than_seconds: int = 3600) -> int:
    """Delete windows that ended more than ``older_than_seconds`` ago (the periodic
    clean-up); returns how many rows went."""
    cutoff = int(ctx.now().timestamp()) - older_than_seconds
    with ctx.transaction() as session:
        return session.execute(delete(RateLimitWindow).where(
            RateLimitWindow.window_start < cutoff)).rowcount or 0
