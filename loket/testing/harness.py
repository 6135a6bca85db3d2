"""The harness a gateway package gives the conformance kit.

A gateway package subclasses :class:`GatewayHarness` in its ``tests/conftest.py`` and
returns an instance from a fixture named ``loket_gateway_harness``; the kit's contract
tests then run against that gateway and its emulator.
"""

from __future__ import annotations

from loket.types import CheckoutSession, GatewayConfig, RefundResult, WebhookRequest


class GatewayHarness:
    """How the kit drives one gateway and its local emulator.

    Override the methods; the attributes have sensible defaults.
    """

    #: the gateway kind the plugin registers.
    kind: str = ""
    #: a currency with two decimals the gateway charges in.
    two_decimal_currency: str = "USD"
    #: a zero-decimal currency the gateway charges in, or ``None`` if it supports none.
    zero_decimal_currency: str | None = "JPY"
    #: amounts (minor units) per currency for the round-trip test; the defaults suit most.
    round_trip_amounts: dict = {"USD": [50, 12050, 999999], "JPY": [50, 12345]}

    def make_config(self, currency: str) -> GatewayConfig:
        """Return a configuration with working credentials pointed at the running emulator.

        ``webhook_url``/``webhook_path`` must be set; ``options`` carry the emulator address.
        """
        raise NotImplementedError(
            "GatewayHarness.make_config: return a GatewayConfig with valid credentials for "
            "your emulator (see docs/writing-a-gateway.md)")

    def bad_credentials(self) -> dict:
        """Return credentials in a valid format that the emulator refuses on the live call."""
        raise NotImplementedError(
            "GatewayHarness.bad_credentials: return well-formed credentials your emulator "
            "rejects")

    def payer_acts(self, config: GatewayConfig, session: CheckoutSession,
                   outcome: str) -> WebhookRequest | None:
        """Make the emulated payer act on the hosted checkout and return the gateway's webhook.

        :param outcome: ``"pay"``, ``"decline"`` or ``"abandon"``.
        :returns: the signed :class:`WebhookRequest` exactly as loket would receive it, or
            ``None`` when the gateway sends no webhook for this outcome.
        """
        raise NotImplementedError(
            "GatewayHarness.payer_acts: drive your emulator's hosted page (pay, decline, "
            "abandon) and return the webhook it sends")

    def refund_webhook(self, config: GatewayConfig, session: CheckoutSession,
                       refund: RefundResult) -> WebhookRequest | None:
        """Return the webhook the gateway sends for ``refund``, or ``None`` if it sends none."""
        return None
