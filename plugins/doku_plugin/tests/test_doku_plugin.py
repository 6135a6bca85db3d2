"""Packaging: the entry point, the contract version, the description."""

import importlib.metadata

from loket.plugin_api import Money
from loket.plugins import Plugins
from loket_doku import plugin


def test_entry_point_registers_the_plugin_module_with_contract_1():
    (entry,) = [e for e in importlib.metadata.entry_points(group="loket") if e.name == "doku"]
    assert entry.value == "loket_doku.plugin"
    assert entry.load() is plugin and plugin.LOKET_CONTRACT == "1.3"
    assert "doku" in Plugins().gateways


def test_description_declares_idr_secrets_and_the_minimum():
    d = plugin.loket_gateway_describe()
    assert d.currencies == ("IDR",) and d.secret_fields == ("shared_key", "secret_key")
    assert d.minimum_charge == {"IDR": Money(1_000_000, "IDR")}  # Rp 10,000.00
    assert set(d.statuses) >= {"PENDING", "SUCCESS", "FAILED", "EXPIRED", "REFUNDED",
                               "TIMEOUT", "REDIRECT"}
