"""Helpers of the REST API tests: an app on the test database, one API key per staff role,
a consumer token, and the sandbox's payer and settlement acting through HTTP."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import attrs
import falcon.testing
import pytest

from loket.core import audit, tenants
from loket.core.tenants import TokenSigner
from loket.demo import SANDBOX_CREDENTIALS
from loket.gateways import sandbox_page, sandbox_store
from loket.server.app import create_app

ACTOR = audit.Actor("api-tests", "system")


@attrs.define
class Api:
    """A TestClient plus credentials: ``api.get("/v1/...", role="cso_admin")``."""

    ctx: object
    client: falcon.testing.TestClient
    tenant_id: int
    keys: dict
    consumer_token: str

    def headers(self, role: str | None, extra: dict | None = None) -> dict:
        """Authorization for ``role`` (``consumer`` uses the token; ``None`` sends none)."""
        out = dict(extra or {})
        if role == "consumer":
            out["Authorization"] = f"Bearer {self.consumer_token}"
        elif role is not None:
            out["Authorization"] = f"Bearer {self.keys[role]}"
        return out

    def call(self, method: str, path: str, role: str | None = "cso_admin", json_body=None,
             headers: dict | None = None, **kwargs):
        """Send a request through the WSGI app."""
        return self.client.simulate_request(method, path, json=json_body,
                                            headers=self.headers(role, headers), **kwargs)

    def get(self, path, role="cso_admin", **kwargs):
        """GET as ``role``."""
        return self.call("GET", path, role, **kwargs)

    def post(self, path, body=None, role="cso_admin", **kwargs):
        """POST a JSON body as ``role``."""
        return self.call("POST", path, role, json_body=body if body is not None else {},
                         **kwargs)

    def put(self, path, body, role="tenant_admin", **kwargs):
        """PUT a JSON body as ``role``."""
        return self.call("PUT", path, role, json_body=body, **kwargs)

    def sandbox_db(self):
        """The sandbox gateway's own records."""
        options = {"var_dir": str(self.ctx.config.var_dir),
                   **self.ctx.config.gateway_options.get("sandbox", {})}
        return sandbox_store.open_path(sandbox_store.store_path(options))

    def deliver(self, webhook) -> falcon.testing.Result:
        """Deliver a sandbox webhook to loket through the app (its URL's path)."""
        return self.client.simulate_post(urlsplit(webhook.url).path, body=webhook.body,
                                         headers=webhook.headers)

    def payer_acts(self, redirect_url: str, outcome: str = "pay") -> str:
        """The payer presses a button on the sandbox page; the webhook reaches loket.
        Returns where the payer's browser goes next (loket's signed return URL)."""
        reference = redirect_url.rstrip("/").rsplit("/", 1)[-1]
        webhook, target = sandbox_page.payer_acts(self.sandbox_db(), reference, outcome)
        if webhook is not None:
            assert self.deliver(webhook).status_code == 200
        return target

    def settle(self) -> None:
        """The sandbox pays out every paid checkout; its webhooks reach loket."""
        for webhook in sandbox_page.settle(self.sandbox_db()):
            assert self.deliver(webhook).status_code == 200

    def connect_sandbox(self) -> None:
        """The tenant admin activates, configures and connects the sandbox over HTTP."""
        assert self.put("/v1/gateways/sandbox/active", {"active": True}).status_code == 200
        saved = self.put("/v1/gateways/sandbox/credentials", {"credentials": SANDBOX_CREDENTIALS})
        assert saved.status_code == 200, saved.text
        started = self.post("/v1/gateways/sandbox/connect", role="tenant_admin")
        assert started.status_code == 201, started.text
        self.payer_acts(started.json["redirect_url"])


def make_api(ctx, tenant_id: int) -> Api:
    """An app on ``ctx`` with a key per staff role and a token for John Doe (WU-10001)."""
    with ctx.transaction() as session:
        keys = {role: tenants.create_api_key(session, ACTOR, tenant_id, role, f"test {role}")
                for role in tenants.STAFF_ROLES}
    token = TokenSigner(ctx.config.secret_keys[0].encode()).consumer_token(
        tenant_id, "WU-10001", 3600, now=int(ctx.now().timestamp()))
    return Api(ctx=ctx, client=falcon.testing.TestClient(create_app(ctx)), tenant_id=tenant_id,
               keys=keys, consumer_token=token)


@pytest.fixture
def api(ctx, tenant_id) -> Api:
    """The API over the seeded demo tenant (no gateway connected)."""
    return make_api(ctx, tenant_id)


@pytest.fixture
def connected_api(api) -> Api:
    """The API with the sandbox gateway connected through its real test transaction."""
    api.connect_sandbox()
    return api


def problem(result) -> dict:
    """The problem document of an error response (checks its media type)."""
    assert result.headers["content-type"].startswith("application/problem+json"), result.text
    return json.loads(result.text)


def fields(result) -> set[str]:
    """The fields a validation problem names."""
    return {e["field"] for e in problem(result).get("errors", [])}
