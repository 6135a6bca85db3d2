"""Helpers of the end-to-end tests: a real loket server on a loopback port, on the selected
database backend (``LOKET_TEST_DB``), with API keys and consumer tokens (the gateway
emulators come from ``loket_stripe.testing`` and ``loket_doku.testing``).

The server socket is bound first, so the container's ``base_url`` (from which webhook and
return URLs are built) is the server's real address.
"""

from __future__ import annotations

import threading
from pathlib import Path

import attrs
import requests

from loket.core import audit, tenants
from loket.core.context import Loket
from loket.core.tenants import TokenSigner
from loket.server import devserver
from loket.server.app import create_app
from support.db import BACKEND, build_ctx

SETUP = audit.Actor("e2e-setup", "system")


class _Gate:
    """WSGI wrapper standing for the network in front of loket: while ``down`` > 0 it
    answers 503 to webhook deliveries (loket unreachable), counting them down."""

    def __init__(self, app):
        self.app = app
        self.down = 0
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith("/v1/webhooks/"):
            with self._lock:
                refuse, self.down = self.down > 0, max(self.down - 1, 0)
            if refuse:
                start_response("503 Service Unavailable", [("Content-Length", "0")])
                return [b""]
        return self.app(environ, start_response)


@attrs.define
class LiveLoket:
    """A running loket: ``url``, the container ``ctx`` and an HTTP client with credentials."""

    ctx: Loket
    url: str
    server: object
    gate: _Gate
    http: requests.Session = attrs.field(factory=requests.Session)
    keys: dict = attrs.field(factory=dict)      # role -> API key
    tokens: dict = attrs.field(factory=dict)    # account number -> consumer token
    tenant_id: int | None = None                # the tenant the credentials belong to

    def call(self, method: str, path: str, as_: str | None = None, **kwargs
             ) -> requests.Response:
        """Send ``method path`` over HTTP; ``as_`` is a staff role (its API key) or an
        account number (its consumer token)."""
        headers = dict(kwargs.pop("headers", None) or {})
        if as_ is not None:
            headers["Authorization"] = f"Bearer {self.keys.get(as_) or self.tokens[as_]}"
        return self.http.request(method, self.url + path, headers=headers, timeout=30,
                                 **kwargs)

    def get(self, path: str, as_: str | None = None, **kwargs) -> requests.Response:
        """GET ``path``."""
        return self.call("GET", path, as_, **kwargs)

    def post(self, path: str, body=None, as_: str | None = None, **kwargs
             ) -> requests.Response:
        """POST a JSON body."""
        return self.call("POST", path, as_, json=body if body is not None else {}, **kwargs)

    def put(self, path: str, body, as_: str | None = None, **kwargs) -> requests.Response:
        """PUT a JSON body."""
        return self.call("PUT", path, as_, json=body, **kwargs)

    def authorize(self, tenant_id: int, roles=("tenant_admin", "cso_admin"),
                  accounts=()) -> None:
        """Create an API key per staff role and a consumer token per account."""
        self.tenant_id = tenant_id
        with self.ctx.transaction() as session:
            for role in roles:
                self.keys[role] = tenants.create_api_key(session, SETUP, tenant_id, role,
                                                         f"e2e {role}")
        signer = TokenSigner(self.ctx.config.secret_keys[0].encode())
        for account in accounts:
            self.tokens[account] = signer.consumer_token(tenant_id, account, 3600,
                                                         now=int(self.ctx.now().timestamp()))

    def unreachable_for(self, deliveries: int) -> None:
        """Make the next ``deliveries`` webhook requests fail with 503 before loket."""
        self.gate.down = deliveries

    def stop(self) -> None:
        """Stop the server and release the database."""
        self.server.shutdown()
        self.server.server_close()
        self.http.close()
        self.ctx.engine.dispose()


def start_loket(tmp_path: Path, plugins, request, gateway_options: dict | None = None
                ) -> LiveLoket:
    """Serve a fresh loket on 127.0.0.1 (free port) over an empty database of the selected
    backend. ``gateway_options`` go to ``AppConfig.gateway_options`` (e.g. emulator URLs)."""
    server = devserver.make(None, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.server_port}"
    ctx = build_ctx(tmp_path, plugins, BACKEND, request, base_url=url,
                    gateway_options=gateway_options)
    gate = _Gate(create_app(ctx))
    server.set_app(gate)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    return LiveLoket(ctx=ctx, url=url, server=server, gate=gate)


def only(items: list, **match) -> dict:
    """The one element of ``items`` whose keys equal ``match`` (fails otherwise)."""
    found = [i for i in items if all(i.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (match, items)
    return found[0]
