"""The conformance kit's helpers: the :class:`Kit` each contract test works with.

It loads the installed plugins, asks the harness for configurations and amounts, runs the
charge/pay/refund flows the way the core does, and fails with messages that say what the
gateway author must fix.
"""

from __future__ import annotations

import uuid
import weakref

import pytest

from loket import types
from loket.money import Money
from loket.plugins import Plugins
from loket.testing.harness import GatewayHarness


def fail(message: str):
    """Fail the current test with ``message`` only: it already says what to fix."""
    pytest.fail(message, pytrace=False)


def expect(exc_type, call, message: str):
    """Run ``call``; return the ``exc_type`` it raises, fail with ``message`` if it returns.

    Any other exception propagates unchanged, so a stub's ``NotImplementedError`` tells the
    author what to write next.
    """
    try:
        call()
    except exc_type as exc:
        return exc
    fail(message)


_PLUGINS: weakref.WeakKeyDictionary[GatewayHarness, Plugins] = weakref.WeakKeyDictionary()


def _plugins_for(harness: GatewayHarness) -> Plugins:
    """Load the plugins once per harness instance (loading every entry point costs ~15 ms)."""
    if harness not in _PLUGINS:
        _PLUGINS[harness] = Plugins(extra=tuple(harness.extra_plugins))
    return _PLUGINS[harness]


class Kit:
    """What one contract test works with: the harness, the plugins and a few flows."""

    def __init__(self, harness: GatewayHarness):
        if not isinstance(harness, GatewayHarness):
            fail("the loket_gateway_harness fixture must return an instance of a subclass of "
                  f"loket.testing.GatewayHarness, not {type(harness).__name__}")
        if not harness.kind:
            fail(f"{type(harness).__name__}.kind is empty: set it to the kind your "
                  "loket_gateway_describe hook returns")
        self.harness = harness
        self.kind = harness.kind
        self.plugins = _plugins_for(harness)
        if self.kind not in self.plugins.gateways:
            broken = "; ".join(f"{n}: {e}" for n, e in self.plugins.broken.items())
            fail(f"no installed plugin describes gateway kind {self.kind!r} (installed: "
                  f"{', '.join(sorted(self.plugins.gateways)) or 'none'}). Check the "
                  "'loket' entry point in your setup.cfg, reinstall the package "
                  "(pip install -e .), and return a GatewayDescription with this kind from "
                  "loket_gateway_describe." + (f" Plugins that failed to load: {broken}"
                                               if broken else ""))
        self.description = self.plugins.gateway(self.kind)
        self._requests: dict[str, types.CheckoutRequest] = {}

    # -- configuration and amounts ----------------------------------------------------

    def config(self, currency: str | None = None) -> types.GatewayConfig:
        """A working configuration from the harness, checked for what the kit needs."""
        currency = currency or self.harness.two_decimal_currency
        config = self.harness.make_config(currency)
        name = type(self.harness).__name__
        if not isinstance(config, types.GatewayConfig):
            fail(f"{name}.make_config must return a loket.plugin_api.GatewayConfig")
        if config.kind != self.kind:
            fail(f"{name}.make_config returned kind {config.kind!r}; expected {self.kind!r}")
        if config.currency != currency:
            fail(f"{name}.make_config({currency!r}) returned currency {config.currency!r}")
        if not config.webhook_url.startswith(("http://", "https://")) or not config.webhook_path:
            fail(f"{name}.make_config must set webhook_url (absolute) and webhook_path")
        return config

    def amounts(self, currency: str) -> list[int]:
        """The round-trip amounts for ``currency`` (minor units), each at least the minimum."""
        try:
            amounts = list(self.harness.round_trip_amounts[currency])
        except KeyError:
            fail(f"{type(self.harness).__name__}.round_trip_amounts has no entry for "
                  f"{currency}: add e.g. {{{currency!r}: [<small>, <typical>]}} in minor units")
        minimum = self.description.minimum_charge.get(currency, Money(1, currency)).amount
        low = [a for a in amounts if a < minimum]
        if low or not amounts:
            fail(f"{type(self.harness).__name__}.round_trip_amounts[{currency!r}] must list "
                  f"amounts of at least the gateway's minimum_charge ({minimum}); got {amounts}")
        return amounts

    def amount(self, currency: str) -> Money:
        """A typical amount to charge in ``currency``."""
        return Money(self.amounts(currency)[-1], currency)

    # -- flows ------------------------------------------------------------------------

    def charge(self, config, amount: Money, payment_id: str | None = None):
        """Charge ``amount``; return (payment_id, session) after checking the session."""
        payment_id = payment_id or f"PAY-KIT-{uuid.uuid4().hex[:12].upper()}"
        # A retry sends what the first attempt sent, as the core does from the stored payment
        # (a second request built a second later would carry another expiry).
        request = self._requests.get(payment_id)
        if request is None or request.amount != amount:
            request = self.harness.checkout_request(config, payment_id, amount)
            self._requests[payment_id] = request
        session = self.plugins.charge(config, request)
        if not isinstance(session, types.CheckoutSession):
            fail("loket_gateway_charge must return a CheckoutSession, not "
                  f"{type(session).__name__}")
        return payment_id, session

    def act(self, config, session, outcome: str):
        """Let the emulated payer act; return the webhook (or None) the gateway sends."""
        webhook = self.harness.payer_acts(config, session, outcome)
        if webhook is not None and not isinstance(webhook, types.WebhookRequest):
            fail(f"{type(self.harness).__name__}.payer_acts must return a WebhookRequest "
                  "or None")
        return webhook

    def parse_one(self, config, webhook, expected_type: str, what: str) -> types.GatewayEvent:
        """Parse ``webhook`` and return its single event of ``expected_type``."""
        events = self.plugins.parse_webhook(config, webhook)
        wanted = [e for e in events if e.type == expected_type]
        if not wanted:
            fail(f"loket_gateway_parse_webhook: the {what} webhook must yield a "
                  f"{expected_type!r} event; it yielded {[e.type for e in events]}")
        event = wanted[0]
        if not event.event_id:
            fail(f"loket_gateway_parse_webhook: the {expected_type} event has no event_id; "
                  "use the gateway's own event id (it is loket's de-duplication key)")
        return event

    def pay(self, config, amount: Money):
        """Charge and pay; return (payment_id, session, succeeded event)."""
        payment_id, session = self.charge(config, amount)
        webhook = self.act(config, session, "pay")
        if webhook is None:
            fail(f"{type(self.harness).__name__}.payer_acts(..., 'pay') returned None: it "
                  "must return the signed webhook your gateway sends when a payer pays")
        event = self.parse_one(config, webhook, types.EVENT_SUCCEEDED, "pay")
        return payment_id, session, event, webhook

    def refund_request(self, session, event, amount: Money, captured: Money):
        """The RefundRequest the core would send for a payment (as in the engine)."""
        return types.RefundRequest(
            refund_id=f"REF-KIT-{uuid.uuid4().hex[:12].upper()}",
            payment_id=event.payment_id,
            gateway_reference=event.gateway_reference or session.gateway_reference,
            amount=amount, captured=captured, details=event.details)


def check_payment_event(event, payment_id: str, amount: Money, what: str) -> None:
    """Fail unless ``event`` names ``payment_id`` and carries exactly ``amount``."""
    if event.payment_id != payment_id:
        fail(f"the {what} event carries payment_id {event.payment_id!r}, expected "
              f"{payment_id!r}: send CheckoutRequest.payment_id to the gateway as metadata "
              "and read it back in parse_webhook/fetch_status")
    if event.amount != amount:
        fail(f"the {what} event carries amount {event.amount}, expected {amount} "
              f"({amount.amount} minor units): convert to the gateway's units only at the "
              "API boundary, with integers (loket.plugin_api.minor_digits), never floats")
    if not event.gateway_reference:
        fail(f"the {what} event has no gateway_reference: set the gateway's id of the "
              "payment/checkout")
