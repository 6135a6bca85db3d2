"""Behaviour-tracking events as rows of the tracking table."""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import os
import threading
from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session, sessionmaker

from loket.core import bulk
from loket.core.db import transaction
from loket.core.models import TrackingEventRow
from loket.types import TrackingEvent, json_safe

log = logging.getLogger(__name__)


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


class BufferedWriter:
    """Writes tracking events in batches: at most one transaction per ``max_delay_ms`` milliseconds
    (or per ``max_events`` events), from a background thread, so a page view or a payment
    does not pay a commit of its own for its analytics. Events still buffered when the
    process is killed are lost (at most ``max_delay_ms`` of them); a normal exit
    writes them.

    Used by API processes (:func:`loket.jobs.wiring.install_builtins`).
    """

    def __init__(self, sessions: sessionmaker[Session], max_events: int = 200,
                 max_delay_ms: int = 1000) -> None:
        self.sessions = sessions
        self.max_events = max_events
        self.max_delay_ms = max_delay_ms
        self._pending: list[TrackingEvent] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread_pid: int | None = None
        atexit.register(self.flush)

    def __call__(self, event: TrackingEvent) -> None:
        """Queue one event (written within ``max_delay_ms``)."""
        with self._lock:
            self._pending.append(event)
            full = len(self._pending) >= self.max_events
            if self._thread_pid != os.getpid():  # first use in this (possibly forked) process
                self._thread_pid = os.getpid()
                threading.Thread(target=self._run, name="tracking-writer", daemon=True).start()
        if full:
            self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.max_delay_ms / 1000)
            self._wake.clear()
            self.flush()

    def flush(self) -> int:
        """Write every queued event in one transaction now; returns how many."""
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return 0
        try:
            with transaction(self.sessions) as session:
                for event in batch:
                    record(session, event)
        except Exception:  # noqa: BLE001 - analytics must not break anything
            log.exception("%d tracking events could not be written", len(batch))
            return 0
        return len(batch)
