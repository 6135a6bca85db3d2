"""Required and optional gateway hooks: a gateway lacking a required hook is reported broken
at load; calling an optional hook a gateway lacks is "not supported by this gateway", a 422
over the API and never a 500."""

from __future__ import annotations

import datetime as dt

import pytest
from support.api import make_api, problem
from support.db import BACKEND, build_ctx
from support.engine import seed

from loket import hookimpl, hookspecs
from loket.errors import NotSupported, PluginError
from loket.gateways import sandbox
from loket.plugins import Plugins, missing_required_hooks
from loket.types import GatewayConfig, GatewayDescription

SANDBOX_HOOKS = [name for name in dir(sandbox)
                 if name.startswith("loket_") and name != "loket_gateway_fetch_settlements"]


class SandboxWithoutSettlements:
    """The built-in sandbox minus its optional ``loket_gateway_fetch_settlements``."""

    LOKET_CONTRACT = hookspecs.CONTRACT_VERSION


for _name in SANDBOX_HOOKS:
    setattr(SandboxWithoutSettlements, _name, staticmethod(getattr(sandbox, _name)))


class HalfGateway:
    """A gateway plugin that forgot most of the required hooks."""

    LOKET_CONTRACT = "1"

    @hookimpl
    def loket_gateway_describe(self):
        return GatewayDescription(kind="half", display_name="Half", credential_schema={})

    @hookimpl
    def loket_gateway_charge(self, config, request):
        return None


def test_every_gateway_hook_is_classified_and_its_docstring_says_so():
    gateway_specs = {n for n in dir(hookspecs) if n.startswith("loket_gateway_")}
    assert set(hookspecs.GATEWAY_HOOKS) == gateway_specs
    for name, need in hookspecs.GATEWAY_HOOKS.items():
        doc = getattr(hookspecs, name).__doc__
        assert doc.startswith(need.capitalize() + "."), name
        assert ".. versionadded::" in doc, name


def test_a_gateway_lacking_a_required_hook_is_refused_by_name():
    assert "loket_gateway_refund" in missing_required_hooks(HalfGateway())
    assert missing_required_hooks(SandboxWithoutSettlements()) == []
    with pytest.raises(PluginError, match="lacks the required hook.*loket_gateway_refund"):
        Plugins(extra=(HalfGateway(),))


def test_installed_gateways_implement_every_required_hook(plugins):
    assert not plugins.broken
    for kind in plugins.gateways:
        for name, need in hookspecs.GATEWAY_HOOKS.items():
            if need == hookspecs.REQUIRED:
                assert plugins.supports(kind, name), (kind, name)


def test_an_optional_hook_the_gateway_lacks_is_not_supported():
    plugins = Plugins(blocked=("sandbox",), extra=(SandboxWithoutSettlements(),))
    config = GatewayConfig(id=1, tenant_id=1, kind="sandbox", credentials={}, currency="USD")
    assert not plugins.supports("sandbox", "loket_gateway_fetch_settlements")
    now = dt.datetime.now(dt.UTC)
    with pytest.raises(NotSupported, match="not supported by this gateway"):
        plugins.fetch_settlements(config, now, now)


@pytest.fixture
def api_without_settlements(tmp_path, request):
    """The API with a sandbox that cannot list settlements, connected over HTTP."""
    plugins = Plugins(blocked=("sandbox",), extra=(SandboxWithoutSettlements(),))
    ctx = build_ctx(tmp_path, plugins, BACKEND, request)
    api = make_api(ctx, seed(ctx))
    api.connect_sandbox()
    yield api
    ctx.engine.dispose()


def test_settlement_fetch_on_a_gateway_without_it_is_422_over_http(api_without_settlements):
    today = dt.date.today().isoformat()
    result = api_without_settlements.post(
        "/v1/reconciliation/fetch", {"gateway": "sandbox", "from": today, "to": today},
        role="billing_manager")
    assert result.status_code == 422, result.text
    body = problem(result)
    assert body["type"].endswith("/not-supported")
    assert "not supported by this gateway" in body["detail"]
