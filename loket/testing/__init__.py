"""loket's conformance kit for gateway plugins (a pytest plugin, entry point ``pytest11``).

pytest loads this module in every project of an environment where loket is installed, so it
collects nothing by itself and imports almost nothing: a gateway package opts in by
subclassing :class:`GatewayConformance` in one of its test modules and providing the
``loket_gateway_harness`` fixture. See ``docs/writing-a-gateway.md``.
"""

from __future__ import annotations

import pytest

__all__ = ["DestinationConformance", "DestinationHarness", "GatewayConformance",
           "GatewayHarness", "Receivable", "obligation"]
_WHERE = {
    "GatewayHarness": "loket.testing.harness",
    "GatewayConformance": "loket.testing.conformance",
    "DestinationHarness": "loket.testing.destination_harness",
    "Receivable": "loket.testing.destination_harness",
    "obligation": "loket.testing.destination_harness",
    "DestinationConformance": "loket.testing.destination_conformance",
}


def __getattr__(name: str):
    # Imported on first use, so pytest runs that never opt in pay nothing for the kit.
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@pytest.fixture
def loket_gateway_harness():
    """Placeholder the gateway package overrides in its ``conftest.py``; fails saying so."""
    pytest.fail(
        "the loket conformance kit needs a fixture named 'loket_gateway_harness' in your "
        "tests/conftest.py that starts your emulator and yields an instance of your "
        "loket.testing.GatewayHarness subclass (see docs/writing-a-gateway.md)",
        pytrace=False)


@pytest.fixture
def loket_destination_harness():
    """Placeholder the destination package overrides in its ``conftest.py``; fails saying so."""
    pytest.fail(
        "the loket destination kit needs a fixture named 'loket_destination_harness' in your "
        "tests/conftest.py that returns an instance of your "
        "loket.testing.DestinationHarness subclass (see docs/writing-a-destination.md)",
        pytrace=False)
