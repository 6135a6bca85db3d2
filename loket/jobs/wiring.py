"""Bind the built-in notifier and tracking sink to a container.

The entry points ``email`` and ``tracking`` load modules that cannot know the SMTP server
or the database; :func:`install_builtins` replaces them, on the container's own plugin
manager, with instances that do (a plugin blocked with ``LOKET_DISABLED_PLUGINS`` stays
blocked).
"""

from __future__ import annotations

import threading

from loket.core.tracking import BufferedWriter, many_writer, writer
from loket.jobs.applier import Applier
from loket.notifiers.email import EmailNotifier, SmtpSettings
from loket.tracking.sink import TrackingSink


def replace_plugin(plugins, name: str, plugin) -> bool:
    """Register ``plugin`` under ``name`` instead of whatever is registered there.

    :returns: ``False`` when ``name`` is blocked (nothing registered).
    """
    pm = plugins.pm
    if pm.is_blocked(name):
        return False
    if pm.get_plugin(name) is not None:
        pm.unregister(name=name)
    plugins.register(plugin, name=name)
    return True


class Coalesced:
    """Calls ``enqueue()`` once ``delay_ms`` milliseconds after the first of a burst of
    calls, for the whole burst: a task that applies every pending event need not be enqueued
    once per event. Every call is followed by an enqueue made after it (so after its
    caller's commit), and the task reads what is pending when it runs."""

    def __init__(self, enqueue, delay_ms: int = 20):
        self.enqueue, self.delay_ms = enqueue, delay_ms
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def __call__(self) -> None:
        with self._lock:
            if self._timer is None:
                self._timer = threading.Timer(self.delay_ms / 1000, self._fire)
                self._timer.daemon = True
                self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            self._timer = None
        self.enqueue()


def _kick(ctx, jobs):
    """What the webhook endpoint calls after storing events for deferred apply: nothing on
    PostgreSQL (the statement storing them announced them to the worker's applier), else the
    ``apply_events`` task, once per burst; ``None`` without a queue (no deferred apply)."""
    if jobs is None:
        return None
    if Applier.wanted(ctx):
        return _announced
    return Coalesced(jobs.apply_events)


def _announced() -> None:
    """Nothing to do: the statement that stored the events announced them."""


def install_builtins(ctx, jobs=None, batched_tracking: bool = False) -> None:
    """Bind ``email`` to ``ctx.config``'s SMTP settings (enqueueing through ``jobs`` when
    given, else sending at once), ``tracking`` to ``ctx.sessions``, and the outbox's
    messages, uploaded reconciliation files and deferred webhook events to the queue
    (``jobs``) or to this process.

    :param batched_tracking: write tracking events in batches (API processes: a request
        does not commit its analytics in a transaction of its own).
    """
    smtp = SmtpSettings.from_config(ctx.config)
    enqueue = jobs.send_email if jobs is not None else None
    ctx.outbox_kick = jobs.deliver_outbox_event if jobs is not None else None
    ctx.run_kick = jobs.reconcile_run if jobs is not None else None
    ctx.event_kick = _kick(ctx, jobs)
    replace_plugin(ctx.plugins, "email", EmailNotifier(smtp, enqueue=enqueue))
    write = BufferedWriter(ctx.sessions) if batched_tracking else writer(ctx.sessions)
    if isinstance(write, BufferedWriter) and jobs is not None:
        # A worker thread stopping writes what is buffered (a restart by SIGHUP re-executes
        # the process without running its exit handlers).
        jobs.huey.on_shutdown("loket_tracking_flush")(write.flush)
    replace_plugin(ctx.plugins, "tracking", TrackingSink(write, many_writer(ctx.sessions)))
