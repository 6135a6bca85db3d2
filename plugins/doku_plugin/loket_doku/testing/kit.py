"""Helpers for the DOKU plugin tests (and for end-to-end tests reusing the emulator):
configurations, checkout requests, a stand-in for loket's webhook endpoint, and the
conformance-kit harness; imported as ``loket_doku.testing.kit``."""

from __future__ import annotations

import datetime as dt
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from loket.plugin_api import (
    CheckoutItem,
    CheckoutRequest,
    CheckoutSession,
    Customer,
    GatewayConfig,
    Money,
    WebhookRejected,
    WebhookRequest,
)
from loket.testing import GatewayHarness
from loket_doku import checkout, plugin
from loket_doku.api import DokuClient
from loket_doku.testing.emulator import DEFAULT_CLIENT_ID, DEFAULT_SECRET_KEY, DokuEmulator

WEBHOOK_PATH = "/webhooks/doku/cfg-7f3a9c"
GOOD_CREDENTIALS = {
    "mall_id": "10896632",
    "shared_key": "k4Sd2EE9Sm1X",
    "chain_merchant_id": "0",
    "client_id": DEFAULT_CLIENT_ID,
    "secret_key": DEFAULT_SECRET_KEY,
    "environment": "sandbox",
}


def make_config(emulator: DokuEmulator, webhook_base: str = "http://127.0.0.1:9",
                currency: str = "IDR", options: dict | None = None,
                **credentials: str) -> GatewayConfig:
    """A DOKU configuration pointed at ``emulator`` (its webhook URL under ``webhook_base``;
    ``options`` are added to ``api_base``)."""
    return GatewayConfig(
        id=1, tenant_id=1, kind="doku", credentials={**GOOD_CREDENTIALS, **credentials},
        currency=currency, webhook_url=webhook_base + WEBHOOK_PATH, webhook_path=WEBHOOK_PATH,
        options={"api_base": emulator.url, **(options or {})})


def make_request(payment_id: str, rupiah: int = 150_000, *, minutes: int = 60,
                 items: tuple[CheckoutItem, ...] | None = None) -> CheckoutRequest:
    """A checkout for ``rupiah`` whole rupiah (one water bill unless ``items`` are given)."""
    amount = Money(rupiah * 100, "IDR")
    created = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return CheckoutRequest(
        payment_id=payment_id, amount=amount,
        items=items if items is not None else (
            CheckoutItem(kind="bill", reference="INV-2024-05-001", description="Water bill May",
                         amount=amount, period="2024-05"),),
        customer=Customer(account_number="ACC-1001", name="Siti Rahma",
                          email="siti@example.com", phone="+6281234567890"),
        return_url=f"https://loket.example/return/{payment_id}",
        cancel_url=f"https://loket.example/cancel/{payment_id}",
        created_at=created, expires_at=created + dt.timedelta(minutes=minutes),
    )


def charge_unscoped(config: GatewayConfig, request: CheckoutRequest) -> CheckoutSession:
    """Create a checkout as the plugin did before invoices were scoped: the invoice is the
    bare payment number, the Request-Id ``loket-pay-<number>`` (a payment from then)."""
    payload = checkout.build_payload(config, request)
    payload["order"]["invoice_number"] = request.payment_id
    request_id = checkout.legacy_request_id(request.payment_id)
    answer = DokuClient.for_config(config).create_checkout(payload, request_id)
    return checkout.session_from(answer, request.payment_id, request_id)


def webhook_from(headers: dict, body: bytes, path: str = WEBHOOK_PATH) -> WebhookRequest:
    """A WebhookRequest as loket's HTTP layer builds it (lower-case header names)."""
    return WebhookRequest(body=body, headers={k.lower(): v for k, v in headers.items()},
                          path=path, received_at=dt.datetime.now(dt.UTC))


class NotificationReceiver:
    """A loopback stand-in for loket's webhook endpoint: verifies through the plugin hook,
    answers 200 (or 400 when rejected), and applies each event_id once.

    ``fail_first`` makes it answer 503 to that many requests first (loket down).
    """

    def __init__(self):
        self.config: GatewayConfig | None = None
        self.fail_first = 0
        self.received: list[tuple[int, list]] = []
        self.applied: dict[str, object] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, events = receiver.handle(dict(self.headers.items()), body, self.path)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def handle(self, headers: dict, body: bytes, path: str) -> tuple[int, list]:
        if self.fail_first > 0:
            self.fail_first -= 1
            self.received.append((503, []))
            return 503, []
        try:
            events = plugin.loket_gateway_parse_webhook(
                config=self.config, request=webhook_from(headers, body, path))
        except WebhookRejected:
            self.received.append((400, []))
            return 400, []
        for event in events:
            self.applied.setdefault(event.event_id, event)
        self.received.append((200, events))
        return 200, events

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class DokuHarness(GatewayHarness):
    """Drives the emulator for loket's conformance kit (a paying payer uses a card, so the
    kit's refund test exercises DOKU's online card refund).

    Its configuration creates checkouts with ``disable_retry_payment``, so the kit's
    "decline" ends the checkout and DOKU's FAILED is the final ``payment.failed`` the kit
    expects. (With retries allowed, the default, a decline is ``payment.pending`` carrying
    DOKU's words: the payer may still pay on the same checkout.)"""

    kind = "doku"
    two_decimal_currency = "IDR"
    zero_decimal_currency = None
    round_trip_amounts = {"IDR": [1_000_000, 1_250_000, 99_999_900]}
    refund_callback = False  # DOKU documents no refund notification
    settlement = ("api", "report")  # the API answers []: reports come as files

    def charged_amount(self, config: GatewayConfig, session: CheckoutSession) -> str:
        """The whole rupiah DOKU's order asks the payer for."""
        return str(self.emulator.orders[session.gateway_reference]["amount"])

    def settlement_report(self, config: GatewayConfig, paid: list) -> tuple[bytes, str]:
        """DOKU's CSV settlement report for the paid checkouts."""
        invoices = [session.gateway_reference for session, _ in paid]
        return self.emulator.settlement_report_csv(invoices), "settlement.csv"

    def __init__(self, emulator: DokuEmulator):
        self.emulator = emulator

    def make_config(self, currency: str) -> GatewayConfig:
        return make_config(self.emulator, currency=currency,
                           options={"disable_retry_payment": True})

    def bad_credentials(self) -> dict:
        return {**GOOD_CREDENTIALS, "client_id": "BRN-0001-1799999999999",
                "secret_key": "SK-notTheRightKey0000"}

    def payer_acts(self, config: GatewayConfig, session: CheckoutSession,
                   outcome: str) -> WebhookRequest | None:
        invoice = session.gateway_reference
        if outcome == "pay":
            self.emulator.pay_card(invoice)
        elif outcome == "decline":
            self.emulator.decline_card(invoice)
        else:
            self.emulator.expire(invoice)
            return None  # DOKU sends no notification when a checkout expires unpaid
        headers, body = self.emulator.notification(invoice, config.webhook_path)
        return webhook_from(headers, body, config.webhook_path)

    def refund_webhook(self, config: GatewayConfig, session: CheckoutSession,
                       refund) -> WebhookRequest | None:
        """``None``: DOKU documents no HTTP notification for refunds (its notification page
        lists payment events only) and no notification field carrying a refund's amount or
        id, so the harness does not invent one (see the README, *Refunds*)."""
        return None
