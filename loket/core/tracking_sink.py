"""The built-in tracking sink: a ``loket_track`` plugin writing one row per event.

Entry point ``tracking`` (group ``loket``). Like the e-mail notifier, the module registered
from the entry point does nothing until the container binds it to its database:
:func:`loket.jobs.wiring.install_builtins` replaces it with a :class:`TrackingSink` holding
the container's session factory. The hook is called after the action was committed, so the
row is written in a transaction of its own.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session, sessionmaker

from loket import hookimpl
from loket.core.db import transaction
from loket.core.models import TrackingEventRow
from loket.types import TrackingEvent, json_safe

LOKET_CONTRACT = "1"

log = logging.getLogger(__name__)


def record(session: Session, event: TrackingEvent) -> TrackingEventRow:
    """Add the row for ``event`` to the caller's transaction."""
    row = TrackingEventRow(tenant_id=event.tenant_id, name=event.name, actor=event.actor,
                           properties=json_safe(dict(event.properties)))
    if event.at is not None:
        row.at = event.at
    session.add(row)
    return row


class TrackingSink:
    """The bound sink: writes each event with the container's session factory."""

    LOKET_CONTRACT = "1"

    def __init__(self, sessions: sessionmaker[Session]):
        self.sessions = sessions

    @hookimpl
    def loket_track(self, event):
        """Write the event; never raises (analytics must not break the action)."""
        try:
            with transaction(self.sessions) as session:
                record(session, event)
        except Exception:  # noqa: BLE001
            log.exception("tracking event %s could not be written", event.name)


@hookimpl
def loket_track(event):
    """Unbound: no database yet, so nothing is written."""
    log.debug("tracking sink not configured; %s not written", event.name)
