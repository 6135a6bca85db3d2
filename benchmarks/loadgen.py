"""Load generators: closed loop (N clients, each sends its next request when the last
answered) and open loop (a fixed rate, latency counted from when a request was due, so a
stalled server cannot hide its queue).

Plain threads and ``http.client``, one connection per request (gunicorn's sync workers
close every connection), so no dependency beyond the standard library.
"""

from __future__ import annotations

import http.client
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Request:
    """One HTTP request of a workload."""

    method: str
    path: str
    body: bytes | None = None
    headers: dict = field(default_factory=dict)


@dataclass
class Outcome:
    """What a run achieved: counts by HTTP status (``0`` = no answer: timeout or refused
    connection), latencies in nanoseconds, wall time, and how fast refusals came."""

    statuses: dict[int, int] = field(default_factory=dict)
    latencies_ns: list[int] = field(default_factory=list)
    refused_latencies_ns: list[int] = field(default_factory=list)
    elapsed_ns: int = 0
    retry_after_seen: int = 0

    @property
    def ok(self) -> int:
        """Answers with a 2xx status."""
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def total(self) -> int:
        """Every request sent."""
        return sum(self.statuses.values())

    def rate(self) -> float:
        """Successful answers per second."""
        return self.ok / (self.elapsed_ns / 1e9) if self.elapsed_ns else 0.0


def percentile(values: list[int], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` (nearest rank); 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))])


class _Client:
    def __init__(self, base_url: str, timeout: float):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.timeout = timeout

    def send(self, request: Request) -> tuple[int, bool]:
        """Send one request; returns (status, Retry-After present); 0 for no answer."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            headers = {"Connection": "close", **request.headers}
            connection.request(request.method, request.path, body=request.body, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status, response.getheader("Retry-After") is not None
        except (OSError, http.client.HTTPException):
            return 0, False
        finally:
            connection.close()


def _record(outcome: Outcome, lock: threading.Lock, status: int, retry_after: bool,
            latency: int) -> None:
    with lock:
        outcome.statuses[status] = outcome.statuses.get(status, 0) + 1
        if 200 <= status < 300:
            outcome.latencies_ns.append(latency)
        else:
            outcome.refused_latencies_ns.append(latency)
        outcome.retry_after_seen += retry_after


def closed_loop(base_url: str, requests: Callable[[int], Request | None], clients: int,
                timeout: float = 30.0, duration: float | None = None,
                retry_refused: float | None = 0.1) -> Outcome:
    """``clients`` threads send ``requests(i)`` for i = 0, 1, … until it returns ``None``
    (or ``duration`` seconds have passed). A request refused with 429 or 503 is sent again
    after ``retry_refused`` seconds, as a gateway retries (the refusal is counted in
    ``statuses``); ``None`` moves on instead."""
    outcome, lock = Outcome(), threading.Lock()
    counter = iter(range(1 << 62))
    counter_lock = threading.Lock()
    client = _Client(base_url, timeout)
    started = time.monotonic_ns()
    deadline = started + int(duration * 1e9) if duration else None

    def run() -> None:
        while deadline is None or time.monotonic_ns() < deadline:
            with counter_lock:
                request = requests(next(counter))
            if request is None:
                return
            while True:
                sent = time.monotonic_ns()
                status, retry_after = client.send(request)
                _record(outcome, lock, status, retry_after, time.monotonic_ns() - sent)
                if status not in (429, 503) or retry_refused is None:
                    break
                time.sleep(retry_refused)

    threads = [threading.Thread(target=run, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outcome.elapsed_ns = time.monotonic_ns() - started
    return outcome


def open_loop(base_url: str, requests: Callable[[int], Request], rate: float,
              duration: float, timeout: float = 30.0, max_in_flight: int = 400) -> Outcome:
    """Send ``rate`` requests per second for ``duration`` seconds whatever the answers;
    latency runs from the moment each request was due. At most ``max_in_flight`` requests
    wait at once (more are sent late, and their lateness counts)."""
    outcome, lock = Outcome(), threading.Lock()
    client = _Client(base_url, timeout)
    due: queue.Queue = queue.Queue()
    count = int(rate * duration)
    started = time.monotonic_ns() + 50_000_000
    for i in range(count):
        due.put((started + int(i * 1e9 / rate), i))

    def run() -> None:
        while True:
            try:
                at, i = due.get_nowait()
            except queue.Empty:
                return
            wait = at - time.monotonic_ns()
            if wait > 0:
                time.sleep(wait / 1e9)
            request = requests(i)
            status, retry_after = client.send(request)
            _record(outcome, lock, status, retry_after, time.monotonic_ns() - at)

    threads = [threading.Thread(target=run, daemon=True)
               for _ in range(min(max_in_flight, count))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outcome.elapsed_ns = time.monotonic_ns() - started
    return outcome
