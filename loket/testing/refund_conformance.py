"""The contract tests of refunds and settlements, per kind of gateway.

A refund answers ``succeeded``, ``pending`` (the gateway's ``payment.refunded`` or
``refund.failed`` event follows; only for gateways with a refund callback) or ``failed``
(refused at once: loket raises a to-do for a manual refund). Settlements come from the API
(``"api"`` in the harness's ``settlement``) or from a report file staff upload
(``"report"``).
"""

from __future__ import annotations

import datetime as dt

import pytest

from loket import types
from loket.errors import RefundNotPossible
from loket.money import Money
from loket.testing.kit import Kit, fail

# What a refund of a fresh payment may answer (``failed`` is for refusals).
REFUND_STATUSES = (types.RefundStatus.SUCCEEDED, types.RefundStatus.PENDING)
SETTLEMENT_KINDS = {
    "api": "loket_gateway_fetch_settlements",
    "report": "loket_gateway_parse_settlement_report",
}


class RefundConformance:
    """Mixed into :class:`~loket.testing.conformance.GatewayConformance`."""

    def _refund(self, loket_kit: Kit) -> tuple[types.GatewayConfig, Money, str,
                                               types.CheckoutSession, types.RefundResult]:
        config = loket_kit.config()
        amount = loket_kit.amount(config.currency)
        payment_id, session, event, _ = loket_kit.pay(config, amount)
        request = loket_kit.refund_request(session, event, amount, amount)
        result = loket_kit.plugins.refund(config, request)
        if not isinstance(result, types.RefundResult) or not result.refund_reference:
            fail("loket_gateway_refund must return a RefundResult with the gateway's "
                 "refund_reference")
        if result.status not in REFUND_STATUSES:
            fail(f"RefundResult.status {result.status!r} for the refund of a fresh payment: "
                 f"expected one of {[str(s) for s in REFUND_STATUSES]} ('failed' is for a "
                 "refund the gateway refuses at once)")
        if result.status == types.RefundStatus.PENDING and not loket_kit.harness.refund_callback:
            fail("loket_gateway_refund answered 'pending' but the harness says the gateway "
                 "sends no refund callback (refund_callback = False): nothing would ever "
                 "confirm it. Answer 'succeeded' once the gateway accepted the refund, or "
                 "'failed' when it refused")
        return config, amount, payment_id, session, result

    def test_refund_returns_the_gateways_refund(self, loket_kit: Kit) -> None:
        self._refund(loket_kit)

    def test_refund_webhook_parses_to_refunded(self, loket_kit: Kit) -> None:
        config, amount, payment_id, session, result = self._refund(loket_kit)
        webhook = loket_kit.harness.refund_webhook(config, session, result)
        if webhook is None:
            if loket_kit.harness.refund_callback:
                fail(f"{type(loket_kit.harness).__name__}.refund_webhook returns None: return "
                     "the gateway's refund webhook, or set refund_callback = False when the "
                     "gateway sends none")
            pytest.skip("the gateway sends no refund callback (refund_callback = False)")
        refunded = loket_kit.parse_one(config, webhook, types.EVENT_REFUNDED, "refund")
        if refunded.amount != amount:
            fail(f"the payment.refunded event carries amount {refunded.amount}; expected "
                 f"{amount} (the amount of this refund)")
        if refunded.refund_reference != result.refund_reference:
            fail(f"the payment.refunded event's refund_reference "
                 f"{refunded.refund_reference!r} differs from the RefundResult's "
                 f"{result.refund_reference!r}")
        if refunded.payment_id not in (payment_id, None) or not (
                refunded.payment_id or refunded.gateway_reference):
            fail("the payment.refunded event must name the payment (payment_id or "
                 "gateway_reference)")

    def test_refund_of_more_than_paid_is_refused(self, loket_kit: Kit) -> None:
        config = loket_kit.config()
        amount = loket_kit.amount(config.currency)
        _, session, event, _ = loket_kit.pay(config, amount)
        too_much = Money(amount.amount * 2, amount.currency)
        request = loket_kit.refund_request(session, event, too_much, amount)
        try:
            result = loket_kit.plugins.refund(config, request)
        except RefundNotPossible:
            return
        if result.status != types.RefundStatus.FAILED:
            fail(f"loket_gateway_refund accepted a refund of {too_much} on a payment of "
                 f"{amount}: raise RefundNotPossible (or answer status 'failed') when the "
                 "amount exceeds request.captured or the gateway refuses it")

    # -- settlements --------------------------------------------------------------------

    def test_settlement_kind_matches_the_hooks(self, loket_kit: Kit) -> None:
        kinds = tuple(loket_kit.harness.settlement)
        unknown = [k for k in kinds if k not in SETTLEMENT_KINDS]
        if unknown:
            fail(f"{type(loket_kit.harness).__name__}.settlement lists {unknown}; use "
                 "('api',), ('report',), both, or ()")
        for name, hook in SETTLEMENT_KINDS.items():
            has = loket_kit.plugins.supports(loket_kit.kind, hook)
            if name in kinds and not has:
                fail(f"the harness's settlement lists {name!r} but the plugin does not "
                     f"implement {hook}")
            if has and name not in kinds:
                fail(f"the plugin implements {hook}: add {name!r} to the harness's "
                     "settlement so the kit checks it")

    @pytest.mark.parametrize("kind", ["api", "report"])
    def test_settlement_lines_carry_exact_money(self, loket_kit: Kit, kind: str) -> None:
        if kind not in loket_kit.harness.settlement:
            pytest.skip(f"the gateway offers no settlement {kind} (harness.settlement)")
        config = loket_kit.config()
        amount = loket_kit.amount(config.currency)
        _, session, _, _ = loket_kit.pay(config, amount)
        if kind == "report":
            content, filename = loket_kit.harness.settlement_report(config, [(session, amount)])
            # Read once: the parser may return a generator (contract 1.3).
            lines = list(loket_kit.plugins.parse_settlement_report(config, content, filename))
        else:
            now = dt.datetime.now(dt.UTC)
            lines = list(loket_kit.plugins.fetch_settlements(config, now - dt.timedelta(days=2),
                                                             now + dt.timedelta(days=1)))
        for line in lines:
            if not isinstance(line, types.SettlementLine):
                fail(f"settlement hooks must return SettlementLine objects, not "
                     f"{type(line).__name__}")
            if line.amount - line.fee != line.net:
                fail(f"settlement line {line.gateway_reference}: amount {line.amount} - fee "
                     f"{line.fee} != net {line.net}")
        if kind == "report" and not any(line.amount == amount for line in lines):
            fail(f"the settlement report for a payment of {amount} yielded no line of that "
                 f"amount: {[str(line.amount) for line in lines]}")
