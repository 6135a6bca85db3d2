"""Prometheus metrics: what each process counts, and what the database tells at scrape time.

Two kinds of figures:

- **Counted by the process** that does the work (requests, gateway calls, webhook
  deliveries, the lag from receipt to application). Under gunicorn every worker writes
  them to files in ``PROMETHEUS_MULTIPROC_DIR`` (the shipped gunicorn config sets it up)
  and a scrape of any worker adds them all up (prometheus-client's multiprocess mode).
- **Read from the database and the queue** when ``/metrics`` is scraped (events pending and
  dead, queue depth, outbox backlog, open to-dos, payments by state): one source of truth,
  the same answer from every worker, a handful of aggregate queries per scrape.

Metric families (all prefixed ``loket_``) are listed in ``docs/operations.md`` with example
alert rules.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from loket.core.models import GatewayEventRow, OutboxDelivery, Payment, Todo

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Counted in-process; in multiprocess mode the values live in per-process files.
PROCESS_REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "loket_http_requests", "HTTP requests answered, by route template and status.",
    ["method", "route", "status"], registry=PROCESS_REGISTRY)
HTTP_DURATION = Histogram(
    "loket_http_request_duration_seconds", "Time to answer an HTTP request.",
    ["method", "route"], registry=PROCESS_REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
GATEWAY_CALLS = Counter(
    "loket_gateway_calls", "Calls of a gateway plugin's hook, by gateway, hook and outcome "
    "(ok, error, unsupported).", ["gateway", "hook", "outcome"], registry=PROCESS_REGISTRY)
GATEWAY_DURATION = Histogram(
    "loket_gateway_call_duration_seconds", "Time spent in a gateway plugin's hook.",
    ["gateway", "hook"], registry=PROCESS_REGISTRY,
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
WEBHOOK_DELIVERIES = Counter(
    "loket_webhook_deliveries", "Requests received on webhook URLs, by gateway and verdict "
    "(accepted, duplicate, rejected, unknown-endpoint, too-large, parse-error, "
    "config-error).", ["gateway", "verdict"], registry=PROCESS_REGISTRY)
WEBHOOK_LAG = Histogram(
    "loket_webhook_event_lag_seconds", "Time from a gateway event's receipt to its "
    "application to the payment.", ["gateway"], registry=PROCESS_REGISTRY,
    buckets=(0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600))


def multiprocess_dir() -> str | None:
    """The directory of multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``), if enabled."""
    return os.environ.get(MULTIPROCESS_ENV) or None


# --- what processes count ------------------------------------------------------------


def observe_request(method: str, route: str, status: int, nanoseconds: int) -> None:
    """Count one answered HTTP request (called by the access-log middleware).

    :param nanoseconds: how long the request took (a monotonic clock's difference).
    :param route: the route template (``/v1/payments/{number}``), never the raw path, or
        ``unrouted`` for a path no route matched.
    """
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_DURATION.labels(method, route).observe(nanoseconds / 1_000_000_000)


def observe_webhook_delivery(gateway: str, verdict: str) -> None:
    """Count one request to a webhook URL with the inbox's verdict on it."""
    WEBHOOK_DELIVERIES.labels(gateway[:40], verdict).inc()


def observe_event_applied(gateway: str, received_at: dt.datetime, applied_at: dt.datetime
                          ) -> None:
    """Record the lag of an event applied at ``applied_at`` that arrived at
    ``received_at`` (called by the inbox when an event is processed)."""
    WEBHOOK_LAG.labels(gateway).observe(max((applied_at - received_at).total_seconds(), 0.0))


_GATEWAY_PREFIX = "loket_gateway_"
_UNTIMED = {"loket_gateway_describe"}
_calls = threading.local()


def _before(hook_name: str, hook_impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    if hook_name.startswith(_GATEWAY_PREFIX) and hook_name not in _UNTIMED:
        stack = getattr(_calls, "stack", None)
        if stack is None:
            stack = _calls.stack = []
        stack.append(time.perf_counter())


def _after(outcome: Any, hook_name: str, hook_impls: Sequence[Any],
           kwargs: Mapping[str, Any]) -> None:
    if not hook_name.startswith(_GATEWAY_PREFIX) or hook_name in _UNTIMED:
        return
    started = _calls.stack.pop()
    config = kwargs.get("config")
    gateway = str(getattr(config, "kind", "unknown"))[:40]
    hook = hook_name[len(_GATEWAY_PREFIX):]
    if outcome.exception is not None:
        result = "error"
    else:
        value = outcome.get_result()
        result = "unsupported" if value is None or value == [] else "ok"
    GATEWAY_CALLS.labels(gateway, hook, result).inc()
    GATEWAY_DURATION.labels(gateway, hook).observe(time.perf_counter() - started)


def instrument_plugins(plugins: Any) -> None:
    """Time and count every gateway hook call of ``plugins`` (a :class:`loket.plugins.Plugins`).

    Called by the entry points that build a container (the app, the worker). Idempotent:
    a plugin manager is instrumented once however often it is called.
    """
    pm = plugins.pm
    if getattr(pm, "_loket_metrics", False):
        return
    pm.add_hookcall_monitoring(_before, _after)
    pm._loket_metrics = True


# --- what the database and the queue tell at scrape time ------------------------------

def outbox_backlog(connection: Any, now: dt.datetime) -> tuple[int, int, int]:
    """The outbox's deliveries not made yet (pending: to a host endpoint or a person), the
    age in seconds of the oldest, and how many were given up (dead)."""
    pending, oldest = connection.execute(select(func.count(), func.min(
        OutboxDelivery.created_at)).where(OutboxDelivery.status == "pending")).one()
    dead = connection.execute(select(func.count()).where(
        OutboxDelivery.status == "dead")).scalar_one()
    return int(pending), _age(oldest, now), int(dead)


class StateCollector(Collector):
    """Gauges read from the database and the queue on every scrape.

    :param ctx: the loket container (its engine and clock).
    :param queue_depth: returns how many tasks wait in the job queue (raises when the queue
        is unreachable: the gauge is then left out and ``loket_queue_up`` is 0).
    """

    def __init__(self, ctx: Any, queue_depth: Callable[[], int] | None = None):
        self.ctx = ctx
        self.queue_depth = queue_depth

    def collect(self) -> Iterable[Metric]:
        """Query and yield the gauges (called by the registry on each scrape)."""
        yield from self._database()
        yield from self._queue()

    def _database(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("loket_database_up", "Whether the database answered the scrape.")
        try:
            with self.ctx.engine.connect() as connection:
                events = connection.execute(select(
                    GatewayEventRow.status, func.count()).group_by(GatewayEventRow.status)).all()
                todos = connection.execute(select(Todo.kind, func.count()).where(
                    Todo.status == "open").group_by(Todo.kind)).all()
                payments = connection.execute(select(Payment.status, func.count()).where(
                    Payment.is_test.is_(False)).group_by(Payment.status)).all()
                oldest_pending = connection.execute(select(func.min(
                    GatewayEventRow.received_at)).where(
                    GatewayEventRow.status == "pending")).scalar()
                outbox = outbox_backlog(connection, self.ctx.now())
        except Exception as exc:  # noqa: BLE001 - a scrape reports, it does not fail
            log.warning("metrics: database unreachable: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        by_status = GaugeMetricFamily("loket_gateway_events", "Stored gateway events by "
                                      "status (pending, processed, ignored, dead, orphan).",
                                      labels=["status"])
        counts = dict(events)
        for status in ("pending", "processed", "ignored", "dead", "orphan"):
            by_status.add_metric([status], counts.pop(status, 0))
        for status, count in counts.items():
            by_status.add_metric([status], count)
        yield by_status
        age = GaugeMetricFamily("loket_gateway_events_oldest_pending_seconds",
                                "Age of the oldest pending gateway event (0 when none).")
        age.add_metric([], _age(oldest_pending, self.ctx.now()))
        yield age
        open_todos = GaugeMetricFamily("loket_todos_open", "Open to-dos by kind.",
                                       labels=["kind"])
        for kind, count in todos:
            open_todos.add_metric([kind], count)
        yield open_todos
        by_state = GaugeMetricFamily("loket_payments", "Payments by state (test payments "
                                     "excluded).", labels=["status"])
        for status, count in payments:
            by_state.add_metric([str(status)], count)
        yield by_state
        backlog = GaugeMetricFamily("loket_outbox_backlog", "Outbox deliveries (host events, "
                                    "messages to people) not made yet.")
        backlog.add_metric([], outbox[0])
        yield backlog
        oldest = GaugeMetricFamily("loket_outbox_oldest_seconds", "Age of the oldest outbox "
                                   "delivery not made yet (0 when none).")
        oldest.add_metric([], outbox[1])
        yield oldest
        dead = GaugeMetricFamily("loket_outbox_dead", "Outbox deliveries given up after days "
                                 "of retries (each raised an outbox.dead to-do).")
        dead.add_metric([], outbox[2])
        yield dead

    def _queue(self) -> Iterable[Metric]:
        if self.queue_depth is None:
            return
        up = GaugeMetricFamily("loket_queue_up", "Whether the job queue answered the scrape.")
        try:
            depth = self.queue_depth()
        except Exception as exc:  # noqa: BLE001 - reported as loket_queue_up 0
            log.warning("metrics: job queue unreachable: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        gauge = GaugeMetricFamily("loket_queue_depth", "Tasks waiting in the job queue.")
        gauge.add_metric([], depth)
        yield gauge


def _age(value: Any, now: dt.datetime) -> int:
    """Whole seconds since ``value`` (0 for none or the future)."""
    if value is None:
        return 0
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return max(int((now - value).total_seconds()), 0)


class _ProcessMetrics(Collector):
    """This process's own counters (single-process mode)."""

    def collect(self) -> Iterable[Metric]:
        return PROCESS_REGISTRY.collect()


def render(state: StateCollector | None = None) -> bytes:
    """The text exposition of every metric: the processes' counters (all gunicorn workers
    in multiprocess mode, else this process) and, when given, the state gauges.

    Called on each ``GET /metrics``.
    """
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ProcessMetrics())
    if state is not None:
        registry.register(state)
    return generate_latest(registry)


def mark_process_dead(pid: int) -> None:
    """Let the multiprocess files of a worker that exited be merged and removed (called by
    the gunicorn config's ``child_exit``)."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)
