"""Plugins declare the contract they were written for; loket refuses another major version.

Each plugin here is a real distribution (a ``.dist-info`` with a ``loket`` entry point) in a
temporary folder on ``sys.path``, so loading goes through importlib.metadata exactly as for
a pip-installed package.
"""

import sys
import textwrap

import pytest

from loket.errors import PluginError
from loket.hookspecs import CONTRACT_VERSION
from loket.plugins import Plugins

GATEWAY = '''
from loket.plugin_api import GatewayDescription, hookimpl
{contract}

@hookimpl
def loket_gateway_describe():
    return GatewayDescription(kind="{name}", display_name="{name}",
                              credential_schema={{"type": "object"}})

# The required hooks, answering for no configuration (enough to load).
loket_gateway_validate_credentials = hookimpl(lambda config, credentials: None)
loket_gateway_handshake = hookimpl(lambda config: None)
loket_gateway_charge = hookimpl(lambda config, request: None)
loket_gateway_parse_webhook = hookimpl(lambda config, request: None)
loket_gateway_map_status = hookimpl(lambda config, raw_status: None)
loket_gateway_fetch_status = hookimpl(lambda config, payment_id, gateway_reference: None)
loket_gateway_refund = hookimpl(lambda config, request: None)
'''


@pytest.fixture
def install(tmp_path, monkeypatch):
    """install(name, source) -> puts a one-module distribution with a loket entry point."""
    monkeypatch.syspath_prepend(str(tmp_path))
    names = []

    def _install(name: str, source: str) -> None:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        info = tmp_path / f"{name}-0.3.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.3\n")
        (info / "entry_points.txt").write_text(f"[loket]\n{name} = {name}\n")
        names.append(name)

    yield _install
    for name in names:
        sys.modules.pop(name, None)


def gateway(name: str, contract: str | None) -> str:
    line = f"LOKET_CONTRACT = {contract!r}" if contract is not None else ""
    return GATEWAY.format(name=name, contract=line)


def test_incompatible_contract_is_refused_with_what_to_do(install):
    install("kit_future_gw", gateway("kit_future_gw", "2.0"))
    plugins = Plugins()
    major = CONTRACT_VERSION.split(".")[0]
    assert plugins.broken["kit_future_gw"] == (
        f"PluginError: plugin 'kit_future_gw' was written for loket plugin contract 2.0, but "
        f"this loket provides contract {CONTRACT_VERSION}; install a version of the plugin "
        f"made for contract {major}.x or a loket that provides 2.0")
    assert "kit_future_gw" not in plugins.gateways
    row = next(i for i in plugins.infos() if i.name == "kit_future_gw")
    assert (row.kind, row.error) == ("broken", plugins.broken["kit_future_gw"])


@pytest.mark.parametrize("contract", [CONTRACT_VERSION, CONTRACT_VERSION.split(".")[0],
                                      CONTRACT_VERSION.split(".")[0] + ".99", None])
def test_same_major_contract_loads(install, contract):
    install("kit_current_gw", gateway("kit_current_gw", contract))
    plugins = Plugins()
    assert "kit_current_gw" in plugins.gateways
    row = next(i for i in plugins.infos() if i.name == "kit_current_gw")
    assert (row.kind, row.distribution, row.version, row.error) == (
        "gateway", "kit_current_gw", "0.3", None)


def test_plugin_whose_import_fails_is_reported_and_others_still_load(install):
    install("kit_crashing_gw", "raise RuntimeError('cannot reach the licence server')\n")
    install("kit_fine_gw", gateway("kit_fine_gw", CONTRACT_VERSION))
    plugins = Plugins()
    assert plugins.broken["kit_crashing_gw"] == (
        "RuntimeError: cannot reach the licence server")
    assert "kit_fine_gw" in plugins.gateways


def test_registering_an_incompatible_plugin_object_is_refused():
    class Old:
        LOKET_CONTRACT = "0.9"

    with pytest.raises(PluginError, match="'old' was written for loket plugin contract 0.9"):
        Plugins(extra=()).register(Old(), name="old")
