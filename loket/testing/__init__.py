"""loket's conformance kit for gateway plugins (a pytest plugin, entry point ``pytest11``)."""

from loket.testing.harness import GatewayHarness

__all__ = ["GatewayHarness"]
