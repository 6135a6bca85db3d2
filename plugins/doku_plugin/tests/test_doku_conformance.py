"""loket's gateway contract, run against the DOKU plugin and its emulator."""

from loket.testing import GatewayConformance


class TestDokuConformance(GatewayConformance):
    """Every contract test of the kit, with the DokuHarness from conftest.py."""
