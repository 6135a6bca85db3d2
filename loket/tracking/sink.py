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
from collections.abc import Callable

from loket.plugin_api import TrackingEvent, hookimpl

LOKET_CONTRACT = "1"

log = logging.getLogger(__name__)


class TrackingSink:
    """The bound sink: hands each event to ``write`` (which stores it).

    :param write: called with each :class:`TrackingEvent`; may raise.
    """

    LOKET_CONTRACT = "1"

    def __init__(self, write: Callable[[TrackingEvent], object]) -> None:
        self.write = write

    @hookimpl
    def loket_track(self, event: TrackingEvent) -> None:
        """Write the event; never raises (analytics must not break the action)."""
        try:
            self.write(event)
        except Exception:  # noqa: BLE001
            log.exception("tracking event %s could not be written", event.name)


@hookimpl
def loket_track(event: TrackingEvent) -> None:
    """Unbound: no database yet, so nothing is written."""
    log.debug("tracking sink not configured; %s not written", event.name)
