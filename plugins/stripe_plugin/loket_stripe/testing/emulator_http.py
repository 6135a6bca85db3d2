"""The HTTP face of the Stripe emulator: Stripe's wire format in, Stripe-shaped JSON out.

Requests are ``application/x-www-form-urlencoded`` with Stripe's bracket nesting
(``line_items[0][price_data][unit_amount]=500``, ``expand[]=data.source``); responses are
JSON objects shaped like Stripe's, and errors use Stripe's ``{"error": {...}}`` envelope so
the real SDK raises its own exception classes. The state lives in
:class:`stripe_emulator.StripeEmulator`; this module only parses, authenticates, replays
idempotent requests and routes.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

_TOKEN = re.compile(r"\[([^\]]*)\]")


class ApiError(Exception):
    """A Stripe API error: HTTP status plus the fields of Stripe's error object."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None, **extra):
        super().__init__(message)
        self.status = status
        self.body = {"message": message, "type": type}
        if code:
            self.body["code"] = code
            self.body["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        if param:
            self.body["param"] = param
        self.body.update(extra)


def parse_form(text: str) -> dict:
    """Parse a Stripe form body or query string into nested dicts and lists.

    ``a[b][0][c]=1`` becomes ``{"a": {"b": [{"c": "1"}]}}``; ``a[]=x&a[]=y`` a list. Values
    stay strings, as on the wire.
    """
    root: dict = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        head = key.split("[", 1)[0]
        path = [head] + _TOKEN.findall(key[len(head):])
        node = root
        for depth, part in enumerate(path):
            last = depth == len(path) - 1
            if part == "":  # "a[]": append
                part = str(len(node))
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _lists(root)


def _lists(node):
    if isinstance(node, dict):
        converted = {k: _lists(v) for k, v in node.items()}
        if converted and all(k.isdigit() for k in converted):
            return [converted[k] for k in sorted(converted, key=int)]
        return converted
    return node


def public(obj):
    """Return a deep copy of ``obj`` without the emulator's private ``_`` fields."""
    if isinstance(obj, dict):
        return {k: public(v) for k, v in obj.items() if not k.startswith("_")}
    if isinstance(obj, list):
        return [public(v) for v in obj]
    return obj


def form_int(params: dict, name: str, *, required: bool = False) -> int | None:
    value = params.get(name)
    if value is None:
        if required:
            raise ApiError(400, f"Missing required param: {name}.", code="parameter_missing",
                           param=name)
        return None
    if not re.fullmatch(r"-?\d+", str(value)):
        raise ApiError(400, f"Invalid integer: {value}", code="parameter_invalid_integer",
                       param=name)
    return int(value)


def _masked(key: str) -> str:
    prefix = key[:8]
    return f"{prefix}{'*' * max(len(key) - 12, 4)}{key[-4:]}"


class _Handler(BaseHTTPRequestHandler):
    server_version = "stripe-emulator/1"
    emulator = None  # set on the subclass the server builds

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def do_DELETE(self):
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        params = parse_form(split.query if method == "GET" else raw)
        if split.path.startswith("/c/pay/"):
            return self._hosted_page(method, split.path, params)
        try:
            key = self._authenticate()
            status, body, replayed = self._idempotent(method, split.path, params, key)
        except ApiError as exc:
            status, body, replayed = exc.status, {"error": exc.body}, False
        self._send_json(status, body, replayed)

    def _authenticate(self) -> str:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise ApiError(401, "You did not provide an API key. You need to provide your API "
                                "key in the Authorization header, using Bearer auth (e.g. "
                                "'Authorization: Bearer YOUR_SECRET_KEY').")
        key = header[len("Bearer "):].strip()
        if key not in self.emulator.api_keys:
            raise ApiError(401, f"Invalid API Key provided: {_masked(key)}")
        return key

    def _idempotent(self, method, path, params, key):
        idem = self.headers.get("Idempotency-Key")
        if method != "POST" or not idem:
            status, body = self.emulator.route(method, path, params, key)
            return status, body, False
        fingerprint = hashlib.sha256(
            json.dumps([path, params], sort_keys=True).encode()).hexdigest()
        store = self.emulator.idempotency
        with self.emulator.idempotency_lock(key, idem):
            saved = store.get((key, idem))
            if saved is not None:
                if saved[0] != fingerprint:
                    raise ApiError(
                        400,
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with. Try using a key other than "
                        f"'{idem}' if you meant to execute a different request.",
                        type="idempotency_error")
                return saved[1], saved[2], True
            try:
                status, body = self.emulator.route(method, path, params, key)
            except ApiError as exc:
                if exc.status == 400 and exc.body["type"] == "invalid_request_error":
                    raise  # validation failures are not saved, as on Stripe
                status, body = exc.status, {"error": exc.body}
            store[(key, idem)] = (fingerprint, status, body)
            return status, body, False

    def _send_json(self, status: int, body: dict, replayed: bool) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", f"req_{self.emulator.new_id('')}")
        if replayed:
            self.send_header("Idempotent-Replayed", "true")
        self.end_headers()
        self.wfile.write(data)

    def _hosted_page(self, method, path, params) -> None:
        """A bare hosted checkout page: GET shows it, POST outcome=pay|decline|cancel acts."""
        session_id = path.rsplit("/", 1)[-1]
        try:
            if method == "GET":
                html = self.emulator.hosted_page_html(session_id)
                data = html.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            location = self.emulator.hosted_page_act(session_id, params.get("outcome", "pay"),
                                                     params.get("card"))
        except ApiError as exc:
            return self._send_json(exc.status, {"error": exc.body}, False)
        self.send_response(303)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


class _Server(ThreadingHTTPServer):
    """Says nothing when a client hangs up mid-answer (a killed loket process): that is
    the client's doing, not the emulator's."""

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class EmulatorServer:
    """A loopback ``ThreadingHTTPServer`` on port 0 serving one emulator in a thread."""

    def __init__(self, emulator):
        handler = type("BoundHandler", (_Handler,), {"emulator": emulator})
        self.httpd = _Server(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        host, port = self.httpd.server_address[:2]
        self.url = f"http://{host}:{port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True,
                                       name="stripe-emulator")
        self.thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
