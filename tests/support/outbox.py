"""A host's webhook receivers for tests: a real HTTP server on loopback that verifies
loket's signature, can fail the first requests, and records what it accepted; and one that
answers a byte at a time."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from loket.core.outbox import signing


class Receiver:
    """``with Receiver(fail_first=2) as host: host.url`` …; ``secret`` is set once the
    endpoint is registered (requests are then verified, against ``clock``: Unix seconds,
    the machine's own unless a test moves loket's)."""

    def __init__(self, fail_first: int = 0, delay_seconds: float = 0.0,
                 clock: Callable[[], float] = time.time):
        self.fail_first = fail_first
        self.delay_seconds = delay_seconds
        self.clock = clock
        self.secret: str | None = None
        self.requests: list[dict[str, Any]] = []  # every request, accepted or not
        self.accepted: list[dict[str, Any]] = []  # verified and answered 200
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/loket-events"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def event_ids(self) -> list[str]:
        return [a["body"]["id"] for a in self.accepted]

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                header = self.headers.get(signing.HEADER) or ""
                if receiver.delay_seconds:
                    time.sleep(receiver.delay_seconds)
                with receiver.lock:
                    record = {"body": json.loads(body), "signature": header,
                              "event_id": self.headers.get("Loket-Event-Id"), "raw": body}
                    receiver.requests.append(record)
                    verified = receiver.secret is not None and signing.verify(
                        receiver.secret, header, body, int(receiver.clock()))
                    failing = receiver.fail_first > 0
                    if failing:
                        receiver.fail_first -= 1
                    elif verified:
                        receiver.accepted.append(record)
                status = 500 if failing else (200 if verified else 400)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler


class Trickler:
    """A receiver that answers a byte at a time: ``HTTP/1.1 200 OK``, then a header whose
    value arrives one byte every ``interval`` seconds for ``seconds`` (each byte well within
    any socket timeout), then the end of the answer. ``connections`` counts who came."""

    def __init__(self, seconds: float = 3600.0, interval: float = 0.1):
        self.seconds, self.interval = seconds, interval
        self.connections = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.getsockname()[1]}/slow"

    def __enter__(self) -> Trickler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.server.close()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                peer, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._answer, args=(peer,), daemon=True).start()

    def _answer(self, peer: socket.socket) -> None:
        with peer:
            try:
                peer.recv(65536)
                peer.sendall(b"HTTP/1.1 200 OK\r\nX-Wait: ")
                ends = time.monotonic() + self.seconds
                while time.monotonic() < ends and not self.stopped.wait(self.interval):
                    peer.sendall(b".")
                peer.sendall(b"\r\nContent-Length: 0\r\n\r\n")
            except OSError:
                return
