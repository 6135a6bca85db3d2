"""Admission control: each API process works on at most ``AppConfig.max_in_flight``
requests at once; a request arriving while that many are running is refused at once with
503 and ``Retry-After`` (nothing read or stored), so overload is answered in milliseconds
instead of queueing until clients time out. Probes (``/health``, ``/ready``, ``/metrics``)
are always let in. Refusals are counted with the other answers
(``loket_http_requests_total`` with status 503). ``max_in_flight`` 0 admits everything
(the development server).

Served by gunicorn's threaded workers (``loket.server.gunicorn_conf``), a process has more
threads than it admits requests, so the spare threads answer the refusals while the admitted
requests run.
"""

from __future__ import annotations

import logging
import threading
import time

import falcon

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1
ALWAYS_ADMITTED = ("/health", "/ready", "/metrics")


class AdmissionMiddleware:
    """Bounds the requests a process runs at once (see the module docstring)."""

    def __init__(self, max_in_flight: int):
        self.limit = max_in_flight
        self.slots = threading.BoundedSemaphore(max_in_flight) if max_in_flight > 0 else None
        self._last_warning = 0.0

    def process_request(self, req, resp):
        """Take a slot, or answer 503 with ``Retry-After`` when every slot is busy."""
        req.context.admitted = False
        if self.slots is None or req.path in ALWAYS_ADMITTED:
            return
        if not self.slots.acquire(blocking=False):
            now = time.monotonic()
            if now - self._last_warning > 10:  # one line per burst, not one per request
                self._last_warning = now
                log.warning("overloaded: %s requests already running, refusing with 503",
                            self.limit)
            raise falcon.HTTPServiceUnavailable(
                title="Overloaded",
                description=f"this server is busy; retry after {RETRY_AFTER_SECONDS} s",
                retry_after=RETRY_AFTER_SECONDS)
        req.context.admitted = True

    def process_response(self, req, resp, resource, req_succeeded):
        """Give the slot back."""
        if getattr(req.context, "admitted", False):
            req.context.admitted = False
            assert self.slots is not None
            self.slots.release()
