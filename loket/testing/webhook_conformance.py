"""The contract tests of webhooks, per kind of gateway.

Signed gateways (``webhook_auth = "signature"``) must refuse a body edited after signing.
Token gateways (``webhook_auth = "token"``: a fixed secret header proves only who sent the
request) cannot spot an edit, so the kit checks instead that nothing an edited or forged body
says is believed: every event must agree with what the gateway itself says of the payment.
Gateways without a decline callback (``decline_callback = False``) are checked through
``fetch_status``.
"""

from __future__ import annotations

from decimal import Decimal

import attrs
import pytest

from loket import types
from loket.errors import WebhookRejected
from loket.money import minor_digits
from loket.testing.kit import Kit, check_payment_event, expect, fail
from loket.wire import major_units

# What a parse hook may raise on a body that can never parse (answered 400, not retried).
REFUSALS = (WebhookRejected, ValueError, TypeError, KeyError, LookupError, AttributeError)
# At most this many single-byte edits are tried on a token gateway's webhook.
EDITS_MAX = 400


class WebhookConformance:
    """Mixed into :class:`~loket.testing.conformance.GatewayConformance`."""

    def test_paid_webhook_parses_to_succeeded(self, loket_kit: Kit) -> None:
        config = loket_kit.config()
        amount = loket_kit.amount(config.currency)
        payment_id, session, event, _ = loket_kit.pay(config, amount)
        check_payment_event(event, payment_id, amount, "payment.succeeded")
        mapping = loket_kit.plugins.map_status(config, event.raw_status)
        if mapping.internal not in (None, types.SUCCEEDED):
            fail(f"the payment.succeeded event's raw_status {event.raw_status!r} maps to "
                 f"{mapping.internal!r}; loket_gateway_map_status must map it to 'succeeded' "
                 "(or leave internal None)")

    def test_the_gateway_charges_the_amount_asked(self, loket_kit: Kit) -> None:
        config = loket_kit.config()
        amount = loket_kit.amount(config.currency)
        _, session = loket_kit.charge(config, amount)
        shown = loket_kit.harness.charged_amount(config, session)
        if shown is None:
            pytest.skip(f"{type(loket_kit.harness).__name__}.charged_amount returns None: "
                        "the kit cannot see what the emulator charges")
        if Decimal(str(shown)) != major_units(amount):
            fail(f"the gateway charges {shown} for a payment of {amount} (that is "
                 f"{major_units(amount)} {amount.currency}): convert with "
                 "loket.plugin_api.major_units/whole_units, which know the currency's ISO "
                 f"4217 decimals ({amount.currency} has {minor_digits(amount.currency)})")

    def test_declined_payer_is_reported(self, loket_kit: Kit) -> None:
        config = loket_kit.config()
        amount = loket_kit.amount(config.currency)
        payment_id, session = loket_kit.charge(config, amount)
        webhook = loket_kit.act(config, session, "decline")
        harness = loket_kit.harness
        if not harness.decline_callback:
            if webhook is not None:
                fail(f"{type(harness).__name__}.decline_callback is False but payer_acts(..., "
                     "'decline') returned a webhook: set decline_callback = True")
            status = loket_kit.plugins.fetch_status(config, payment_id,
                                                    session.gateway_reference)
            if status.type not in (types.EVENT_PENDING, types.EVENT_FAILED):
                fail(f"loket_gateway_fetch_status says {status.type!r} after a declined "
                     "attempt; expected payment.pending (the payer may try again) or "
                     "payment.failed")
            return
        if webhook is None:
            fail(f"{type(harness).__name__}.payer_acts(..., 'decline') returned None: return "
                 "the gateway's decline webhook, or set decline_callback = False when the "
                 "gateway sends none")
        events = loket_kit.plugins.parse_webhook(config, webhook)
        wanted = [e for e in events if e.type == types.EVENT_FAILED or (
            e.type == types.EVENT_PENDING and e.failure_message)]
        if not wanted:
            fail("loket_gateway_parse_webhook: a decline webhook must yield 'payment.failed' "
                 "(the checkout is over) or 'payment.pending' with a failure_message (a "
                 f"declined attempt the payer may retry); it yielded {[e.type for e in events]}")
        event = wanted[0]
        if event.payment_id != payment_id:
            fail(f"the decline event carries payment_id {event.payment_id!r}, expected "
                 f"{payment_id!r}")
        if not event.failure_message:
            fail("the payment.failed event has no failure_message: keep the gateway's own "
                 "words verbatim (they are shown to the payer)")
        if event.failure_category not in (None, *types.FAILURE_CATEGORIES):
            fail(f"failure_category {event.failure_category!r} must be one of "
                 f"{types.FAILURE_CATEGORIES}")

    def test_abandoned_checkout_never_succeeds(self, loket_kit: Kit) -> None:
        config = loket_kit.config()
        payment_id, session = loket_kit.charge(config, loket_kit.amount(config.currency))
        webhook = loket_kit.act(config, session, "abandon")
        if webhook is not None:
            events = loket_kit.plugins.parse_webhook(config, webhook)
            bad = [e.type for e in events if e.type in (types.EVENT_SUCCEEDED,
                                                        types.EVENT_REFUNDED)]
            if bad:
                fail(f"an abandoned checkout's webhook parsed to {bad}; expected "
                     "payment.expired, payment.failed or payment.pending")
        status = loket_kit.plugins.fetch_status(config, payment_id, session.gateway_reference)
        if status.type == types.EVENT_SUCCEEDED:
            fail("loket_gateway_fetch_status says an abandoned checkout succeeded")

    def test_tampered_webhook_is_rejected(self, loket_kit: Kit) -> None:
        if loket_kit.harness.webhook_auth == "token":
            pytest.skip("a token gateway cannot spot an edited body; "
                        "test_forged_webhook_is_not_believed checks it instead")
        config = loket_kit.config()
        _, _, _, webhook = loket_kit.pay(config, loket_kit.amount(config.currency))
        body = bytearray(webhook.body)
        body[len(body) // 2] ^= 0x01
        tampered = attrs.evolve(webhook, body=bytes(body))
        advice = ("verify the signature over the raw body before reading it and raise "
                  "WebhookRejected when it does not match (or, if the gateway authenticates "
                  "callbacks with a fixed token, set webhook_auth = 'token' in the harness)")
        try:
            expect(WebhookRejected, lambda: loket_kit.plugins.parse_webhook(config, tampered),
                   "loket_gateway_parse_webhook accepted a webhook whose body was altered "
                   f"after signing: {advice}")
        except (WebhookRejected, pytest.fail.Exception):
            raise
        except Exception as exc:
            fail(f"loket_gateway_parse_webhook raised {exc!r} for a webhook whose body was "
                 f"altered after signing: {advice}")

    def test_forged_webhook_is_not_believed(self, loket_kit: Kit) -> None:
        if loket_kit.harness.webhook_auth != "token":
            pytest.skip("a signed gateway refuses edited bodies "
                        "(test_tampered_webhook_is_rejected)")
        config = loket_kit.config()
        amount = loket_kit.amount(config.currency)
        paid_id, paid, _, webhook = loket_kit.pay(config, amount)
        open_id, unpaid = loket_kit.charge(config, amount)
        forged = webhook.body
        for old, new in ((paid_id, open_id), (paid.gateway_reference, unpaid.gateway_reference)):
            forged = forged.replace(old.encode(), new.encode())
        for event in self._believed(loket_kit, config, attrs.evolve(webhook, body=forged)):
            if event.type == types.EVENT_SUCCEEDED and open_id in (
                    event.payment_id, event.gateway_reference):
                fail("loket_gateway_parse_webhook believed a forged callback: a paid "
                     "callback with another (unpaid) checkout's ids yielded payment.succeeded "
                     "for it. A callback token proves only who sent it: fetch the object from "
                     "the gateway and build the event from the gateway's record")
        self._edits_are_not_believed(loket_kit, config, webhook)

    def _believed(self, kit: Kit, config: types.GatewayConfig,
                  request: types.WebhookRequest) -> list[types.GatewayEvent]:
        try:
            return kit.plugins.parse_webhook(config, request)
        except REFUSALS:
            return []

    def _edits_are_not_believed(self, kit: Kit, config: types.GatewayConfig,
                                webhook: types.WebhookRequest) -> None:
        """Every single-byte edit (up to EDITS_MAX, spread over the body) is refused or
        yields only events that agree with the gateway's record of their payment."""
        body = webhook.body
        step = max(1, len(body) // EDITS_MAX)
        records: dict[tuple[str | None, str | None], types.GatewayEvent] = {}
        for index in range(0, len(body), step):
            edited = bytearray(body)
            edited[index] ^= 0x01
            for event in self._believed(kit, config, attrs.evolve(webhook, body=bytes(edited))):
                if event.type != types.EVENT_SUCCEEDED:
                    continue
                key = (event.payment_id, event.gateway_reference)
                if key not in records:
                    records[key] = kit.plugins.fetch_status(config, event.payment_id or "",
                                                            event.gateway_reference)
                record = records[key]
                if record.type != event.type or record.amount != event.amount:
                    fail(f"loket_gateway_parse_webhook believed an edited callback (byte "
                         f"{index} changed): it yielded {event.type} of {event.amount} while "
                         f"the gateway's record says {record.type} of {record.amount}. Build "
                         "the event from the object fetched from the gateway, not the body")

    def test_unsigned_webhook_is_rejected(self, loket_kit: Kit) -> None:
        config = loket_kit.config()
        _, _, _, webhook = loket_kit.pay(config, loket_kit.amount(config.currency))
        unsigned = attrs.evolve(webhook, headers={"content-type": "application/json"})
        expect(WebhookRejected, lambda: loket_kit.plugins.parse_webhook(config, unsigned),
               "loket_gateway_parse_webhook accepted a webhook without its signature "
               "headers: raise WebhookRejected when the signature is missing (for a token "
               "gateway: when the callback token is missing or wrong)")
