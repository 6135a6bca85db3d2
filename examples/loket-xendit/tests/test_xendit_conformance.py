"""Run loket's conformance kit against the Xendit example."""

from loket.testing import GatewayConformance


class TestXenditConformance(GatewayConformance):
    """Every contract test of the kit, for a token gateway."""
