"""Admission control: each API process works on at most ``AppConfig.max_in_flight``
requests at once. A request arriving while that many are running waits for a free slot in
a bounded queue (at most ``AppConfig.admission_queue`` requests, each for at most
``AppConfig.admission_wait_ms``); when the queue is full or its wait runs out it is refused
with 503 and ``Retry-After`` (nothing read or stored), so overload is answered in
milliseconds instead of queueing until clients time out. Probes (``/health``, ``/ready``,
``/metrics``) are always let in. Refusals are counted with the other answers
(``loket_http_requests_total`` with status 503). ``max_in_flight`` 0 admits everything
(the development server).

Few requests in flight keep each one's latency close to its own work: a process's
requests share one interpreter, so every request admitted beside others runs slower,
while a request that waits its turn in the queue starts late but then runs at full speed.
The queue absorbs the bursts of a steady load that would otherwise be refused.

Served by gunicorn's threaded workers (``loket.server.gunicorn_conf``), a process has more
threads than it admits and queues requests, so the spare threads answer the refusals while
the admitted requests run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

import falcon

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1
ALWAYS_ADMITTED = ("/health", "/ready", "/metrics")


class AdmissionMiddleware:
    """Bounds the requests a process runs at once (see the module docstring).

    A freed slot goes to the request that has waited longest, never to one arriving just
    then: the queue is served in order.
    """

    def __init__(self, max_in_flight: int, queue: int = 0, wait_ms: int = 0):
        self.limit = max_in_flight
        self.queue = max(queue, 0) if wait_ms > 0 else 0
        self.wait = wait_ms / 1000
        self._running = 0
        self._waiters: deque[threading.Event] = deque()
        self._lock = threading.Lock()
        self._last_warning = 0.0

    @property
    def waiting(self) -> int:
        """How many requests wait for a slot now."""
        return len(self._waiters)

    def process_request(self, req, resp):
        """Take a slot, waiting in the queue if it has room, or answer 503 with
        ``Retry-After`` when every slot stays busy."""
        req.context.admitted = False
        if self.limit <= 0 or req.path in ALWAYS_ADMITTED:
            return
        if not self._admit():
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
        """Give the slot back: to the request waiting longest, if any."""
        if getattr(req.context, "admitted", False):
            req.context.admitted = False
            with self._lock:
                if self._waiters:
                    self._waiters.popleft().set()  # the slot passes on, still taken
                else:
                    self._running -= 1

    def _admit(self) -> bool:
        with self._lock:
            if self._running < self.limit and not self._waiters:
                self._running += 1
                return True
            if len(self._waiters) >= self.queue:
                return False
            handed = threading.Event()
            self._waiters.append(handed)
        if handed.wait(self.wait):
            return True
        with self._lock:
            if handed.is_set():  # handed over as the wait ran out
                return True
            self._waiters.remove(handed)
            return False
