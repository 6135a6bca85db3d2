"""The gunicorn configuration loket ships: ``gunicorn -c python:loket.server.gunicorn_conf``.

It serves ``loket.server.app:get_app()`` and sets up what a production API process needs:

- loket's structured logs (JSON unless ``LOKET_LOG_FORMAT=console``) for loket's lines and
  gunicorn's own; gunicorn's access log is off: loket writes one access line per request
  (route template, status, duration, request id, tenant) that never holds a webhook's
  path token, and every line is scrubbed of tokens besides;
- a garbage collector tuned for a process that runs loket only, once each worker has
  loaded the app (:mod:`loket.ops.runtime`);
- Prometheus' multiprocess mode: every worker counts into files in
  ``PROMETHEUS_MULTIPROC_DIR`` (``$LOKET_VAR_DIR/prometheus`` when unset, emptied at
  start) so ``/metrics`` on any worker reports the sum of all.

- bounded work per process: with ``LOKET_THREADS`` above 1 (default 1: sync workers),
  threaded workers of which at most ``LOKET_MAX_IN_FLIGHT`` (default three quarters of the
  threads) run requests at once; up to ``LOKET_ADMISSION_QUEUE`` more (by default, and at
  most, the threads left but one: threads - in flight - 1) wait for a free slot for at most
  ``LOKET_ADMISSION_WAIT_MS`` (default 100); the threads left answer what arrives meanwhile
  with 503 and ``Retry-After`` at once (admission control, :mod:`loket.server.admission`).
  A request waits at most ``LOKET_DB_POOL_TIMEOUT`` seconds (default 5) for a database
  connection, and a PostgreSQL statement runs at most ``LOKET_DB_STATEMENT_TIMEOUT_MS``
  (default 20,000), so overload is refused in milliseconds rather than answered after the
  clients gave up.

Environment: ``LOKET_BIND`` (default ``127.0.0.1:8000``), ``WEB_CONCURRENCY`` (workers,
default 2 x CPUs + 1, at most 8), ``LOKET_TIMEOUT`` (seconds, default 30), plus every
``LOKET_*`` variable of the app. Command-line options still override any of these.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
from pathlib import Path
from typing import Any

from gunicorn import glogging  # type: ignore[import-untyped]

wsgi_app = "loket.server.app:get_app()"
bind = [os.environ.get("LOKET_BIND", "127.0.0.1:8000")]
workers = int(os.environ.get("WEB_CONCURRENCY") or min(2 * multiprocessing.cpu_count() + 1, 8))
# LOKET_THREADS > 1: threaded workers, with admission control (LOKET_MAX_IN_FLIGHT,
# default three quarters of the threads, and a queue of at most the threads left but one);
# 1 (the default): sync workers, no admission limit.
threads = int(os.environ.get("LOKET_THREADS", "1"))
worker_class = "gthread" if threads > 1 else "sync"
# Read by each worker's AppConfig.from_env (the master sets them before forking).
if threads > 1:
    os.environ.setdefault("LOKET_MAX_IN_FLIGHT", str(max(threads * 3 // 4, 1)))
    os.environ.setdefault("LOKET_ADMISSION_WAIT_MS", "100")
    try:
        # One thread stays free to refuse and to answer the probes: the queue never takes it.
        _spare = max(threads - int(os.environ["LOKET_MAX_IN_FLIGHT"]) - 1, 0)
        _queue = int(os.environ.get("LOKET_ADMISSION_QUEUE", _spare))
    except ValueError:
        pass  # each worker refuses to start, naming the variable
    else:
        os.environ["LOKET_ADMISSION_QUEUE"] = str(min(_queue, _spare))
os.environ.setdefault("LOKET_DB_POOL_TIMEOUT", "5")
os.environ.setdefault("LOKET_DB_STATEMENT_TIMEOUT_MS", "20000")
timeout = int(os.environ.get("LOKET_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
# Requests with headers beyond these limits are refused before loket sees them.
limit_request_line = 8190
limit_request_fields = 100
accesslog = None  # loket's own access line (loket.server.access) replaces gunicorn's
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
proc_name = "loket-api"

_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
if not os.environ.get(_MULTIPROC_ENV):
    # Set before any worker imports prometheus_client, which reads it at import.
    os.environ[_MULTIPROC_ENV] = str(Path(os.environ.get("LOKET_VAR_DIR", "var")).resolve()
                                     / "prometheus")


def _log_settings() -> Any:
    from loket.ops.logs import LogSettings  # noqa: PLC0415

    return LogSettings.from_env(os.environ, default_format="json")


class LoketLogger(glogging.Logger):
    """gunicorn's logger writing through loket's structured logging (its error log) and
    leaving access lines to loket."""

    def setup(self, cfg: Any) -> None:
        """Configure loket's logging, then route gunicorn's error log through it."""
        from loket.ops import logs  # noqa: PLC0415

        logs.configure(_log_settings())
        self.error_log.handlers = []
        self.error_log.propagate = True
        self.error_log.setLevel(logging.INFO)
        self.access_log.handlers = []
        self.access_log.propagate = False
        self.access_log.disabled = True

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        """Nothing: loket's middleware writes the access line (without path tokens)."""


logger_class = LoketLogger


def on_starting(server: Any) -> None:
    """Empty the metrics directory of a previous run (the master, once)."""
    path = Path(os.environ[_MULTIPROC_ENV])
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)


def post_fork(server: Any, worker: Any) -> None:
    """Give each worker loket's logging (the worker re-reads the environment)."""
    from loket.ops import logs  # noqa: PLC0415

    logs.configure(_log_settings())


def post_worker_init(worker: Any) -> None:
    """Tune the worker's garbage collector once it has loaded the app
    (:func:`loket.ops.runtime.tune_gc`)."""
    from loket.ops.runtime import tune_gc  # noqa: PLC0415

    tune_gc()


def child_exit(server: Any, worker: Any) -> None:
    """Merge the counters of a worker that exited (its files stay summed, not doubled)."""
    from prometheus_client import multiprocess  # noqa: PLC0415

    multiprocess.mark_process_dead(worker.pid)
