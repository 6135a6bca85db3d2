"""A local object store for the tests: files served over HTTP on loopback, as a presigned
link would serve them (``with ObjectStore({"/bucket/r.csv": b"…"}) as store: store.url(…)``).
Misbehaving answers: ``/moved.csv`` redirects, ``/zipped.csv`` comes gzip-encoded,
``/cut.csv`` promises more bytes than it sends, ``/slow.csv`` sends a byte every 0.2 s; any
other unknown path is 404."""

from __future__ import annotations

import gzip
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ObjectStore:
    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.requests: list[str] = []  # the paths asked for, query included
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        """``127.0.0.1:port``, as ``LOKET_REPORT_URL_HOSTS`` lists it."""
        return f"127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str) -> str:
        return f"http://{self.host}{path}"

    def __enter__(self) -> ObjectStore:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        store = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_GET(self) -> None:  # noqa: N802
                store.requests.append(self.path)
                path = self.path.split("?", 1)[0]
                body = store.files.get(path)
                if path == "/slow.csv":
                    self.send_response(200)
                    self.send_header("Content-Length", "100")
                    self.end_headers()
                    for _ in range(100):
                        time.sleep(0.2)
                        self.wfile.write(b"x")
                        self.wfile.flush()
                    return
                if path == "/moved.csv":
                    self.send_response(302)
                    self.send_header("Location", store.url("/bucket/report.csv"))
                elif path in ("/zipped.csv", "/cut.csv"):
                    body = gzip.compress(b"date,reference,amount\n" * 1000)
                    self.send_response(200)
                    if path == "/zipped.csv":
                        self.send_header("Content-Encoding", "gzip")
                else:
                    self.send_response(200 if body is not None else 404)
                length = len(body or b"") * (2 if path == "/cut.csv" else 1)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.write(body or b"")

        return Handler
