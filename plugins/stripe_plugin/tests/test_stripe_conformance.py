"""loket's gateway conformance kit, run against the Stripe plugin and its emulator."""

from loket.testing import GatewayConformance


class TestStripeConformance(GatewayConformance):
    pass
