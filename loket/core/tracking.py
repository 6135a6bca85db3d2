"""Behaviour-tracking events as rows of the tracking table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session, sessionmaker

from loket.core import bulk
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


def many_writer(sessions: sessionmaker[Session]) -> Callable[[Sequence[TrackingEvent]], None]:
    """A function that writes many events in one transaction (for the tracking sink's
    ``loket_track_many``)."""
    def write_many(events: Sequence[TrackingEvent]) -> None:
        with transaction(sessions) as session:
            bulk.insert_rows(session, TrackingEventRow.__table__, [
                {"tenant_id": e.tenant_id, "name": e.name, "actor": e.actor,
                 "properties": json_safe(dict(e.properties)),
                 "at": e.at if e.at is not None else dt.datetime.now(dt.UTC)} for e in events])
    return write_many
