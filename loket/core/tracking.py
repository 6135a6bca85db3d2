"""Behaviour-tracking events as rows of the tracking table."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from loket.core.db import transaction
from loket.core.models import TrackingEventRow
from loket.types import TrackingEvent, json_safe


def record(session: Session, event: TrackingEvent) -> TrackingEventRow:
    """Add the row for ``event`` to the caller's transaction."""
    row = TrackingEventRow(tenant_id=event.tenant_id, name=event.name, actor=event.actor,
                           properties=json_safe(dict(event.properties)))
    if event.at is not None:
        row.at = event.at
    session.add(row)
    return row


def writer(sessions: sessionmaker[Session]) -> Callable[[TrackingEvent], None]:
    """A function that writes one event in a transaction of its own (for the tracking sink).

    Called once when the built-in sink is bound to a container.
    """
    def write(event: TrackingEvent) -> None:
        with transaction(sessions) as session:
            record(session, event)
    return write
