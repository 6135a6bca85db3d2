"""Helpers for tests that drive loket's Stripe plugin against the emulator.

Imported as ``loket_stripe.testing.kit`` by the plugin's tests and loket's end-to-end
tests: configurations pointed at an emulator, checkout requests, the
``WebhookRequest`` loket would build from a Stripe delivery, and the conformance harness.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from loket.plugin_api import (
    CheckoutItem,
    CheckoutRequest,
    CheckoutSession,
    Customer,
    GatewayConfig,
    MandateSetup,
    Money,
    RefundResult,
    WebhookRequest,
)
from loket.testing import GatewayHarness
from loket_stripe.currency import stripe_digits
from loket_stripe.testing.emulator import StripeEmulator

WEBHOOK_PATH = "/webhooks/stripe/whk_9f2c1e"


def make_config(emulator: StripeEmulator, currency: str = "USD", **overrides) -> GatewayConfig:
    """A Stripe configuration with the emulator's working credentials."""
    fields = dict(id=1, tenant_id=7, kind="stripe", credentials=emulator.credentials(),
                  currency=currency, webhook_url=f"http://127.0.0.1:9{WEBHOOK_PATH}",
                  webhook_path=WEBHOOK_PATH, options={"api_base": emulator.url,
                                                      "max_network_retries": 0})
    fields.update(overrides)
    return GatewayConfig(**fields)


def webhook_request(emulator: StripeEmulator, event: dict, **sign) -> WebhookRequest:
    """The WebhookRequest loket would build from Stripe's delivery of ``event``."""
    body, headers = emulator.signed(event, **sign)
    return WebhookRequest(body=body, headers={k.lower(): v for k, v in headers.items()},
                          path=WEBHOOK_PATH, received_at=dt.datetime.now(dt.UTC))


# Requests are anchored on one moment, as the core anchors a payment's on its creation: two
# requests built a second apart must be identical for Stripe's idempotency key.
_ANCHOR: list[dt.datetime] = []


def anchor_requests(moment: dt.datetime) -> None:
    """Build every following :func:`checkout_request` as if its payment was created at
    ``moment`` (a test fixture calls it when each test starts)."""
    _ANCHOR[:] = [moment.replace(microsecond=0)]


def checkout_request(payment_id: str = "PAY-2025-000001", currency: str = "USD",
                     amounts=(12050, 3000), minutes: int = 60, **extra) -> CheckoutRequest:
    """A request for one bill per amount (periods 2025-01, 2025-02...)."""
    items = tuple(CheckoutItem(kind="bill", reference=f"INV-{n + 1}",
                               description=f"Water bill INV-{n + 1}",
                               amount=Money(a, currency), period=f"2025-{n + 1:02d}")
                  for n, a in enumerate(amounts))
    fields = dict(
        payment_id=payment_id, amount=Money(sum(amounts), currency), items=items,
        customer=Customer(account_number="ACC-1001", name="Siti Rahma",
                          email="siti@example.test"),
        return_url=f"https://loket.example/return/{payment_id}?sig=abc",
        cancel_url=f"https://loket.example/return/{payment_id}?sig=abc&cancel=1",
        expires_at=(_ANCHOR[0] if _ANCHOR else dt.datetime.now(dt.UTC))
        + dt.timedelta(minutes=minutes))
    fields.update(extra)
    return CheckoutRequest(**fields)


class StripeHarness(GatewayHarness):
    """Drives the Stripe emulator for loket's conformance kit."""

    kind = "stripe"
    settlement = ("api",)  # payouts and their balance transactions
    two_decimal_currency = "USD"
    zero_decimal_currency = "JPY"

    def __init__(self, emulator: StripeEmulator):
        self.emulator = emulator

    def make_config(self, currency: str) -> GatewayConfig:
        return make_config(self.emulator, currency)

    def bad_credentials(self) -> dict:
        return {"secret_key": "sk_test_51RevokedOrUnknownKey000000",
                "publishable_key": self.emulator.publishable_key,
                "webhook_secret": self.emulator.webhook_secret}

    def payer_acts(self, config: GatewayConfig, session: CheckoutSession,
                   outcome: str) -> WebhookRequest | None:
        reference = session.gateway_reference
        if outcome == "pay":
            event = self.emulator.pay(reference)[-1]
        elif outcome == "decline":
            # A declined card leaves a Stripe Checkout open (payment.pending with Stripe's
            # message); the kit's "decline" means a payment that ends declined, which on
            # Stripe is a delayed method failing after the declined card:
            # checkout.session.async_payment_failed.
            self.emulator.decline(reference)
            self.emulator.pay(reference, delayed=True)
            event = self.emulator.settle_delayed(reference, succeed=False)[-1]
        elif outcome == "abandon":
            event = self.emulator.expire(reference)[-1]
        else:
            raise ValueError(f"unknown outcome {outcome!r}")
        return webhook_request(self.emulator, event)

    def payer_saves_mandate(self, config: GatewayConfig, setup: MandateSetup,
                            behaviour: str) -> list[WebhookRequest]:
        card = {"ok": "visa", "soft": "insufficient_funds",
                "hard": "authentication_required"}[behaviour]
        events = self.emulator.save_card(setup.gateway_reference, card)
        return [webhook_request(self.emulator, event) for event in events]

    def charged_amount(self, config: GatewayConfig, session: CheckoutSession) -> str:
        """What the emulated Checkout asks the payer for, in major units (Stripe's API
        counts in its own minor units: ISK has two there, none in ISO 4217)."""
        checkout = self.emulator.session(session.gateway_reference)
        digits = stripe_digits(checkout["currency"])
        return str(Decimal(checkout["amount_total"]).scaleb(-digits))

    def refund_webhook(self, config: GatewayConfig, session: CheckoutSession,
                       refund: RefundResult) -> WebhookRequest | None:
        for event in self.emulator.events_of("refund.created"):
            if event["data"]["object"]["id"] == refund.refund_reference:
                return webhook_request(self.emulator, event)
        return None
