"""Requests to webhook URLs that name no configuration: counted, never stored.

Anyone can send them, so nothing of theirs is kept but a counter per gateway kind and day
and a small sample (when, from where, how big; never the body or the token), enough to
see a misconfigured gateway or a probe without letting a stranger fill the database.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from loket.core.db import conflict_insert
from loket.core.models import UnknownWebhookTally

SAMPLE_SIZE = 10
"""How many requests of each kind and day are described in the sample."""


def count(ctx, kind: str, source: str | None, size: int) -> int:
    """Count one request to an unknown webhook endpoint of ``kind``.

    Called by the inbox instead of storing the request.

    :param source: the sender's address, kept in the sample.
    :param size: the body's length in bytes (the body itself is dropped).
    :returns: how many such requests arrived for ``kind`` today (UTC).
    """
    now = ctx.now()
    kind = (kind or "-")[:40]
    values = conflict_insert(ctx.engine, UnknownWebhookTally).values(
        kind=kind, day=now.date(), count=1, sample=[], last_at=now)
    statement = values.on_conflict_do_update(
        index_elements=[UnknownWebhookTally.kind, UnknownWebhookTally.day],
        set_={"count": UnknownWebhookTally.count + 1, "last_at": now},
    ).returning(UnknownWebhookTally.id, UnknownWebhookTally.count)
    with ctx.transaction() as session:
        tally_id, total = session.execute(statement).one()
        if total <= SAMPLE_SIZE:
            row = session.get(UnknownWebhookTally, tally_id, with_for_update=True)
            row.sample = [*row.sample, {"at": now.isoformat(), "source": (source or "-")[:64],
                                        "bytes": size}][:SAMPLE_SIZE]
    return int(total)


def tallies(ctx, since: dt.date | None = None) -> list[dict]:
    """The counts (newest day first) for operators: kind, day, count, last_at, sample."""
    query = select(UnknownWebhookTally).order_by(UnknownWebhookTally.day.desc(),
                                                 UnknownWebhookTally.kind)
    if since is not None:
        query = query.where(UnknownWebhookTally.day >= since)
    with ctx.transaction() as session:
        return [{"kind": r.kind, "day": r.day.isoformat(), "count": r.count,
                 "last_at": r.last_at.isoformat(), "sample": r.sample}
                for r in session.scalars(query)]
