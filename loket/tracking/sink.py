"""The built-in tracking sink: a ``loket_track`` plugin writing one row per event.

Entry point ``tracking`` (group ``loket``). Like the e-mail notifier, the module registered
from the entry point does nothing until the container binds it to its database:
:func:`loket.jobs.wiring.install_builtins` replaces it with a :class:`TrackingSink` holding
a writer from :mod:`loket.core.tracking`. The hook is called after the action was
committed, so the row is written in a transaction of its own (batched with others in API
processes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from loket.plugin_api import CONTRACT_VERSION, TrackingEvent, hookimpl

LOKET_CONTRACT = CONTRACT_VERSION

log = logging.getLogger(__name__)


class TrackingSink:
    """The bound sink: hands each event to ``write`` (which stores it).

    :param write: called with each :class:`TrackingEvent`; may raise.
    :param write_many: called with many events at once (one transaction); may raise.
    """

    LOKET_CONTRACT = CONTRACT_VERSION

    def __init__(self, write: Callable[[TrackingEvent], object],
                 write_many: Callable[[Sequence[TrackingEvent]], object] | None = None) -> None:
        self.write = write
        self.write_many = write_many

    @hookimpl
    def loket_track(self, event: TrackingEvent) -> None:
        """Write the event; never raises (analytics must not break the action)."""
        try:
            self.write(event)
        except Exception:  # noqa: BLE001
            log.exception("tracking event %s could not be written", event.name)

    @hookimpl
    def loket_track_many(self, events: Sequence[TrackingEvent]) -> None:
        """Write the events together (in one transaction when bound to one); never raises."""
        try:
            if self.write_many is not None:
                self.write_many(events)
                return
        except Exception:  # noqa: BLE001
            log.exception("%d tracking events could not be written", len(events))
            return
        for event in events:
            self.loket_track(event)


@hookimpl
def loket_track(event: TrackingEvent) -> None:
    """Unbound: no database yet, so nothing is written."""
    log.debug("tracking sink not configured; %s not written", event.name)
