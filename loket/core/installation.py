"""This installation's identity: a random id generated the first time it is asked for and
kept in the database, so it survives restarts and differs between two installations (and
after a database reset). Gateways shared by several installations see it in the keys
loket sends them (``GatewayConfig.installation_id``)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core.db import conflict_insert
from loket.core.models import Installation

_ROW_ID = 1


def installation_id(ctx, session: Session) -> str:
    """The installation id (32 hex characters), read (or on first use created, the primary
    key making concurrent processes agree on one) in the caller's transaction; cached in
    the container once known."""
    cached = ctx.cache.get("installation_id")
    if cached:
        return str(cached)
    query = select(Installation.installation_id).where(Installation.id == _ROW_ID)
    value = session.scalar(query)
    if value is None:
        # No savepoint: this also runs in a session whose statements commit one by one
        # (a webhook's delivery stored on PostgreSQL). The key makes concurrent processes
        # agree on the first row written.
        session.connection().execute(conflict_insert(session, Installation).values(
            id=_ROW_ID, installation_id=uuid.uuid4().hex, created_at=ctx.now())
            .on_conflict_do_nothing(index_elements=["id"]))
        value = session.scalar(query)
    ctx.cache["installation_id"] = value
    return str(value)
