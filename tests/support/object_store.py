"""A local object store for the tests: files served over HTTP on loopback, as a presigned
link would serve them (``with ObjectStore({"/bucket/r.csv": b"…"}) as store: store.url(…)``);
``/moved`` answers a redirect, any other path 404."""

from __future__ import annotations

import threading
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
                if path == "/moved":
                    self.send_response(302)
                    self.send_header("Location", store.url("/bucket/report.csv"))
                    self.end_headers()
                    return
                body = store.files.get(path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

        return Handler
