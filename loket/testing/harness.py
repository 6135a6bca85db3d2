"""The harness a gateway package gives the conformance kit.

A gateway package subclasses :class:`GatewayHarness` in its ``tests/conftest.py`` and
returns an instance from a fixture named ``loket_gateway_harness``; the kit's contract
tests then run against that gateway and its emulator. The fixture owns the emulator's
lifetime: start it, ``yield`` the harness, stop it.
"""

from __future__ import annotations

import datetime as dt

from loket.money import Money
from loket.types import (
    CheckoutItem,
    CheckoutRequest,
    CheckoutSession,
    Customer,
    GatewayConfig,
    MandateSetup,
    RefundResult,
    WebhookRequest,
)


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
    #: plugin objects to register besides the installed entry points (for a gateway that is
    #: not pip-installed, e.g. the kit's own self-tests). Installed packages leave it empty.
    extra_plugins: tuple = ()

    # -- the kind of gateway: one switch per way gateways differ ------------------------

    #: how the gateway authenticates its callbacks: ``"signature"`` (an HMAC over the body:
    #: Stripe, DOKU; the kit checks an edited byte is refused) or ``"token"`` (a fixed secret
    #: header such as Xendit's ``x-callback-token``: no check can spot an edited body, so the
    #: plugin must fetch the object from the gateway and build the event from that record;
    #: the kit checks forged bodies are not believed).
    webhook_auth: str = "signature"
    #: whether the gateway calls back when a payer is declined (``False``: the kit checks
    #: ``fetch_status`` instead, and ``payer_acts(..., "decline")`` returns ``None``).
    decline_callback: bool = True
    #: whether the gateway calls back about refunds (``False``: a refund must answer
    #: ``succeeded`` or ``failed``, never ``pending``, since nothing would ever confirm it).
    refund_callback: bool = True
    #: how the gateway reports settlements: ``"api"`` (``loket_gateway_fetch_settlements``)
    #: and/or ``"report"`` (a file staff upload: ``loket_gateway_parse_settlement_report``,
    #: the kit gets one from :meth:`settlement_report`); empty: reconciliation not offered.
    settlement: tuple[str, ...] = ()

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

    def payer_saves_mandate(self, config: GatewayConfig, setup: MandateSetup,
                            behaviour: str) -> list[WebhookRequest]:
        """For a gateway with mandates (contract 1.2): make the emulated payer complete the
        mandate set-up with a payment method whose later off-session charges behave as
        ``behaviour`` says, and return the signed webhooks the gateway sends.

        :param behaviour: ``"ok"`` (charges succeed), ``"soft"`` (charges are declined with a
            code worth retrying, e.g. insufficient funds) or ``"hard"`` (declined for good,
            e.g. the payer must authenticate).
        """
        raise NotImplementedError(
            "GatewayHarness.payer_saves_mandate: your gateway says mandates=True; complete a "
            "mandate set-up on your emulator with a payment method of the given behaviour "
            "(ok, soft, hard) and return the webhooks it sends")

    def charged_amount(self, config: GatewayConfig, session: CheckoutSession) -> str | None:
        """The amount the gateway shows the payer on the hosted page of ``session``, in
        major units as the emulator holds it (``"10000"`` rupiah, ``"120.50"`` dollars), so
        the kit can catch a plugin that charges 100 times the amount (minor units sent
        where major units belong). ``None`` skips that check.
        """
        return None

    def settlement_report(self, config: GatewayConfig,
                          paid: list[tuple[CheckoutSession, Money]]) -> tuple[bytes, str]:
        """For ``"report"`` in ``settlement``: the report file (content, filename) the gateway
        would deliver for the ``paid`` checkouts."""
        raise NotImplementedError(
            "GatewayHarness.settlement_report: your harness says settlement = 'report'; "
            "return (file bytes, filename) of the gateway's settlement report for the paid "
            "checkouts")

    def malformed_credentials(self) -> dict:
        """Return credentials whose *format* is wrong, refused before any live call.

        The default, an empty dict, suits any schema with required fields.
        """
        return {}

    def checkout_request(self, config: GatewayConfig, payment_id: str,
                         amount: Money) -> CheckoutRequest:
        """Return the :class:`CheckoutRequest` the kit charges; override to add extras
        (a phone number, a method) your gateway insists on.
        """
        return CheckoutRequest(
            payment_id=payment_id,
            amount=amount,
            items=(CheckoutItem(kind="bill", reference=f"INV-{payment_id}",
                                description="Water bill", amount=amount, period="2024-05"),),
            customer=Customer(account_number="ACC-1001", name="Siti Rahma",
                              email="siti@example.com", phone="+6281234567890"),
            return_url="https://loket.example/return/" + payment_id,
            cancel_url="https://loket.example/cancel/" + payment_id,
            expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
            description=f"Payment {payment_id}",
        )
