"""A tiny base for a gateway's local emulator: a router with path parameters, JSON in and
out, a loopback HTTP server, and a ``main`` to run it alone.

A plugin's emulator subclasses :class:`Emulator` and adds routes::

    class AcmeEmulator(Emulator):
        def __init__(self) -> None:
            super().__init__()
            self.invoices: dict[str, dict] = {}
            self.route("POST", "/v2/invoices", self.create)
            self.route("GET", "/v2/invoices/{id}", self.get)

        def create(self, request: EmulatorRequest) -> Reply:
            ...
            return 200, invoice

and ships ``python -m loket_acme.testing`` as ``run_standalone(AcmeEmulator)``.

.. versionadded:: 1.3
"""

from __future__ import annotations

import argparse
import re
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs

from loket.wire import dumps, loads

Reply = tuple[int, Any]
"""What a route handler returns: the HTTP status and a JSON-ready body (``bytes`` and
``str`` bodies are sent as they are)."""


@attrs.frozen
class EmulatorRequest:
    """One request to the emulator."""

    method: str
    path: str
    params: Mapping[str, str]
    """Path parameters (``{id}`` in the route)."""
    query: Mapping[str, str]
    """Query-string values (the first of each name); never part of the route match."""
    headers: Mapping[str, str]
    """Headers, keys lower-case."""
    body: bytes

    def json(self) -> Any:
        """The body as JSON (decimals as :class:`~decimal.Decimal`; ``{}`` when empty)."""
        return loads(self.body) if self.body else {}


Handler = Callable[[EmulatorRequest], Reply]


class Router:
    """Routes by method and path pattern (``/v2/invoices/{id}``): a pattern matches the
    whole path, never a prefix, and the query string is ignored."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        """Route ``method`` requests whose path matches ``pattern`` to ``handler``."""
        regex = "".join(f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("{") else re.escape(part)
                        for part in re.split(r"(\{[a-z_][a-z0-9_]*\})", pattern))
        self._routes.append((method.upper(), re.compile(regex + r"\Z"), handler))

    def match(self, method: str, target: str) -> tuple[Handler, dict[str, str]] | None:
        """The handler and path parameters for a request target (query string ignored)."""
        path = urlsplit(target).path
        for route_method, regex, handler in self._routes:
            found = regex.match(path)
            if found and route_method == method.upper():
                return handler, found.groupdict()
        return None


class Emulator:
    """A gateway emulator on loopback: add routes with :meth:`route`, then :meth:`start`
    (or use it as a context manager); :attr:`url` is its base URL."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.router = Router()
        self.host, self.port = host, port
        self.lock = threading.RLock()
        self.log: list[EmulatorRequest] = []
        self._server: ThreadingHTTPServer | None = None

    def credentials(self) -> dict[str, str]:
        """Credentials this emulator accepts (``loket plugin try`` saves them)."""
        raise NotImplementedError(f"{type(self).__name__}.credentials: return the "
                                  "credentials your emulator accepts")

    def pay(self, reference: str) -> tuple[bytes, dict[str, str]]:
        """The payer pays checkout ``reference``: returns the callback (body, headers)."""
        raise NotImplementedError(f"{type(self).__name__}.pay: mark the checkout paid and "
                                  "return the gateway's callback (body, headers)")

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Add a route (see :class:`Router`)."""
        self.router.add(method, pattern, handler)

    @property
    def url(self) -> str:
        """The base URL (``http://127.0.0.1:PORT``) once started."""
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def handle(self, method: str, target: str, headers: Mapping[str, str],
               body: bytes) -> tuple[int, bytes, str]:
        """Answer one request: ``(status, body, content type)``. 404 for no route; a handler
        raising ``ValueError`` answers 400 with its message."""
        split = urlsplit(target)
        matched = self.router.match(method, target)
        if matched is None:
            return 404, dumps({"error": f"no route {method} {split.path}"}), "application/json"
        handler, params = matched
        query = {k: v[0] for k, v in parse_qs(split.query).items()}
        request = EmulatorRequest(method.upper(), split.path, params, query,
                                  {k.lower(): v for k, v in headers.items()}, body)
        with self.lock:
            self.log.append(request)
            try:
                status, payload = handler(request)
            except ValueError as exc:
                status, payload = 400, {"error": str(exc)}
        if isinstance(payload, (bytes, str)):
            data = payload.encode("utf-8") if isinstance(payload, str) else payload
            return status, data, "text/html; charset=utf-8"
        return status, dumps(payload), "application/json"

    def start(self) -> Emulator:
        """Listen on the host and port (0: any free port) in a background thread."""
        emulator = self

        class _Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, data, kind = emulator.handle(self.command, self.path,
                                                     dict(self.headers.items()), body)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((self.host, self.port), _Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_standalone(factory: Callable[[], Emulator], argv: list[str] | None = None,
                   describe: Callable[[Emulator], str] | None = None) -> int:
    """Run an emulator alone until interrupted (``python -m loket_acme.testing``): prints
    its URL (and ``describe(emulator)``, e.g. the credentials it accepts)."""
    parser = argparse.ArgumentParser(description="Run the gateway emulator on loopback.")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    args = parser.parse_args(argv)
    emulator = factory()
    emulator.port = args.port
    emulator.start()
    print(f"emulator listening on {emulator.url}", flush=True)
    if describe is not None:
        print(describe(emulator), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0
