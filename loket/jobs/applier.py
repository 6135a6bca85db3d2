"""The worker's applier of deferred webhook events on PostgreSQL.

With ``LOKET_WEBHOOK_APPLY=deferred`` an API process answers a webhook once its events are
stored, and the statement that stores them announces them on a PostgreSQL channel
(:data:`loket.core.webhooks.events.CHANNEL`, delivered when it commits). The applier, a
thread of ``loket worker``, listens on that channel and applies what is pending in batches
(:func:`~loket.core.webhooks.events.apply_due_batch`): no job is enqueued or dequeued per
burst of webhooks, and a batch starts as soon as the events are committed. While a batch
runs, the next events gather for the one after.

The inbox stays the source of truth: a notification lost (the listening connection broke,
the worker was down) delays nothing for long, since the applier applies what is pending
when it (re)connects and every :data:`SAFETY_POLL` seconds, and the worker's retry sweep
still runs. Several workers may each run one: their batches take disjoint events.

On other databases the API asks the worker through the job queue instead
(``apply_events``, :mod:`loket.jobs.wiring`).
"""

from __future__ import annotations

import logging
import threading
import time

import psycopg
from psycopg.conninfo import make_conninfo

from loket.core.webhooks import events
from loket.jobs.queue import postgres_dsn

log = logging.getLogger(__name__)

SAFETY_POLL = 30
"""Seconds without a notification after which the applier looks for pending events anyway."""
PACE = 0.025
"""Seconds at least between the starts of two batches. A batch's reads and writes are a
statement each for all its events, so a batch of one costs about as much as eight events in
a batch of a hundred: under a steady load the events of 25 ms are applied together; an
event after a quiet spell is applied at once."""
RECHECK = 1
"""Seconds after which an announcement that found nothing due is looked at again: the
events' time comes from the API's machine, whose clock may run a little ahead."""
RECONNECT_AFTER = 2
"""Seconds the applier waits before listening again after its connection failed."""
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10,
              "keepalives_count": 3}
"""TCP keepalives of the listening connection, which only reads: a peer gone silently (a
failover, a firewall's idle timeout) is noticed within about a minute."""
_TICK = 0.5  # how often a waiting applier notices that it is asked to stop


class Applier:
    """Applies deferred webhook events when their storing statements announce them (a
    thread).

    :param ctx: the worker's container (its database must be PostgreSQL).
    """

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0  # when the last batch started (time.monotonic)
        self.batches = 0
        """Batches applied that found events (what a test can see of its work)."""

    @classmethod
    def wanted(cls, ctx) -> bool:
        """Whether ``ctx``'s database announces deferred events (PostgreSQL)."""
        return ctx.engine.dialect.name == "postgresql"

    def start(self) -> Applier:
        """Start listening and applying in a daemon thread; returns ``self``."""
        self._thread = threading.Thread(target=self.run, name="loket-applier", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: int = 30) -> None:
        """Ask the thread to stop after its current batch (committed or rolled back) and
        wait for it at most ``timeout`` seconds; called when the worker stops or restarts."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        """Listen, apply, wait; again after a lost connection or any other failure, until
        :meth:`stop` (the thread outlives every failure: nothing would restart it)."""
        dsn = postgres_dsn(self.ctx.config.database_url)
        while not self._stop.is_set():
            try:
                self._listen(dsn)
            except (psycopg.Error, OSError) as exc:
                log.warning("the deferred events' listener failed (%s: %s); listening again "
                            "in %s s", type(exc).__name__, exc, RECONNECT_AFTER)
                self._stop.wait(RECONNECT_AFTER)
            except Exception:  # noqa: BLE001 - logged; listening again
                log.exception("the deferred events' listener failed; listening again in "
                              "%s s", RECONNECT_AFTER)
                self._stop.wait(RECONNECT_AFTER)

    def _listen(self, dsn: str) -> None:
        with psycopg.connect(make_conninfo(dsn, **KEEPALIVES), autocommit=True) as connection:
            connection.execute(f"LISTEN {events.CHANNEL}")
            log.info("applying deferred webhook events as they are announced")
            announced = False
            while not self._stop.is_set():
                taken = self.drain()
                announced = self._wait(connection, RECHECK if announced and not taken
                                       else SAFETY_POLL)

    def drain(self) -> int:
        """Apply pending events in batches until a batch comes back short; how many were
        taken. A batch that fails is logged; its events stay pending for the retries."""
        taken = 0
        while not self._stop.is_set():
            pause = self._started + PACE - time.monotonic()
            if pause > 0 and self._stop.wait(pause):
                break
            self._started = time.monotonic()
            try:
                counts = events.apply_due_batch(self.ctx)
            except Exception:  # noqa: BLE001 - the events stay pending: retried later
                log.exception("a batch of deferred webhook events could not be applied")
                self._stop.wait(RECONNECT_AFTER)
                return taken
            count = sum(counts.values())
            taken += count
            if count:
                self.batches += 1
            if count < events.BATCH:
                return taken
        return taken

    def _wait(self, connection: psycopg.Connection, timeout: int) -> bool:
        """Until a notification arrives (then take every one queued), ``timeout`` passes or
        the applier is stopped; whether one arrived. A wait that times out checks that the
        connection still answers (a statement on a broken one raises)."""
        deadline = time.monotonic() + timeout
        while not self._stop.is_set() and time.monotonic() < deadline:
            if any(True for _ in connection.notifies(timeout=_TICK, stop_after=1)):
                for _ in connection.notifies(timeout=0):
                    pass
                return True
        if not self._stop.is_set():
            connection.execute("SELECT 1")
        return False
