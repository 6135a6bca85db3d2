"""Endpoints for operators and their tools: liveness, readiness and Prometheus metrics.

``GET /health/live`` answers as long as the process can answer; ``GET /health/ready`` says
whether it can do its work (database, schema, job queue, secret key); ``GET /metrics`` is
the Prometheus exposition. None needs an API key: they reveal no tenant's data, and a
deployment keeps them on its internal network (see docs/operations.md).
"""

from __future__ import annotations

import threading
from typing import Any

import falcon

from loket.ops import health, metrics


class QueueProbe:
    """Asks the job queue how many tasks wait; the queue client is made on first use.

    :param config: the :class:`~loket.core.config.AppConfig` naming the queue.
    :param name: the queue's name (the one the process's producers use).
    """

    def __init__(self, config: Any, name: str | None = None):
        self.config = config
        self.name = name
        self._huey: Any = None
        self._lock = threading.Lock()

    def __call__(self) -> int:
        """The number of tasks waiting; raises when the queue is unreachable."""
        with self._lock:
            if self._huey is None:
                from loket.jobs.queue import make_huey  # noqa: PLC0415

                self._huey = make_huey(self.config, self.name)
        return int(self._huey.pending_count())


class Live:
    """``GET /health/live``: the process answers (no dependency is consulted)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Always 200 while the process serves requests."""
        resp.media = {"status": "ok"}


class Ready:
    """``GET /health/ready``: 200 when every dependency is usable, else 503 naming each
    fault and what to fix (a load balancer stops sending traffic meanwhile)."""

    def __init__(self, ctx: Any, probe: QueueProbe):
        self.ctx = ctx
        self.probe = probe

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Run the readiness checks."""
        checks = health.readiness(self.ctx, self.probe)
        ready = all(c.ok for c in checks)
        resp.media = {"status": "ready" if ready else "not ready",
                      "checks": {c.name: c.as_dict() for c in checks}}
        resp.status = falcon.HTTP_200 if ready else falcon.HTTP_503


class Metrics:
    """``GET /metrics``: every metric in Prometheus' text format."""

    def __init__(self, ctx: Any, probe: QueueProbe):
        self.state = metrics.StateCollector(ctx, probe)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Render the counters of all processes and the state read now."""
        resp.data = metrics.render(self.state)
        resp.content_type = metrics.CONTENT_TYPE


def add_routes(app: falcon.App, ctx: Any, queue_name: str | None = None) -> None:
    """Mount ``/health/live``, ``/health/ready`` and ``/metrics`` and count gateway calls.

    :param queue_name: the job queue's name (default ``loket``).
    """
    metrics.instrument_plugins(ctx.plugins)
    probe = QueueProbe(ctx.config, queue_name)
    app.add_route("/health/live", Live())
    app.add_route("/health/ready", Ready(ctx, probe))
    app.add_route("/metrics", Metrics(ctx, probe))
