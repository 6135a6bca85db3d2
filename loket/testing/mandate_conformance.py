"""The contract tests of the optional mandate hooks (contract 1.2).

They run for every gateway: a gateway whose description says ``mandates=True`` must pass
them; for one that says ``False`` they are skipped (visibly), and the kit checks instead that
asking it for a mandate is "not supported", never a crash. The harness completes set-ups
through :meth:`~loket.testing.harness.GatewayHarness.payer_saves_mandate`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from loket import hookspecs, types
from loket.errors import NotSupported
from loket.testing.kit import Kit, expect, fail


def _setup_request(kit: Kit, config: types.GatewayConfig) -> types.MandateSetupRequest:
    mandate_id = f"MDT-KIT-{uuid.uuid4().hex[:12].upper()}"
    return types.MandateSetupRequest(
        mandate_id=mandate_id, currency=config.currency,
        customer=types.Customer(account_number="ACC-1001", name="Siti Rahma",
                                email="siti@example.com", phone="+6281234567890"),
        return_url=f"https://loket.example/v1/mandate-return/{mandate_id}?result=success",
        cancel_url=f"https://loket.example/v1/mandate-return/{mandate_id}?result=cancel",
        created_at=dt.datetime.now(dt.UTC))


class MandateConformance:
    """Mixed into :class:`~loket.testing.conformance.GatewayConformance`."""

    @staticmethod
    def _needs_mandates(kit: Kit) -> None:
        if not kit.description.mandates:
            pytest.skip(f"gateway {kit.kind!r} declares no mandates (mandates=False): the "
                        "mandate hooks are optional")

    def _active(self, kit: Kit, config: types.GatewayConfig, behaviour: str
                ) -> tuple[types.MandateSetupRequest, types.MandateSetup, types.MandateEvent]:
        request = _setup_request(kit, config)
        setup = kit.plugins.mandate_setup(config, request)
        hooks = kit.harness.payer_saves_mandate(config, setup, behaviour)
        events: list[types.MandateEvent] = []
        for webhook in hooks:
            events.extend(kit.plugins.parse_mandate_events(config, webhook))
        active = [e for e in events if e.type == types.MandateEventType.ACTIVE]
        if len(active) != 1:
            yielded = [str(e.type) for e in events]
            fail("loket_gateway_parse_mandate_events: a completed set-up must yield exactly "
                 f"one 'mandate.active' event; the webhooks yielded {yielded}")
        event = active[0]
        if event.mandate_id != request.mandate_id and \
                event.gateway_reference != setup.gateway_reference:
            fail("loket_gateway_parse_mandate_events: the mandate.active event must name the "
                 "mandate: echo MandateSetupRequest.mandate_id (as metadata) or the "
                 "gateway_reference loket_gateway_mandate_setup returned")
        if not event.token or not event.event_id:
            fail("loket_gateway_parse_mandate_events: mandate.active needs the token to "
                 "charge later (e.g. a saved payment method id) and the gateway's event_id")
        return request, setup, event

    def _charge(self, kit: Kit, config: types.GatewayConfig, event: types.MandateEvent,
                charge_id: str | None = None) -> types.MandateChargeResult:
        amount = kit.amount(config.currency)
        charge_id = charge_id or f"autopay-kit-{uuid.uuid4().hex[:12]}"
        request = types.MandateChargeRequest(  # a retry sends exactly the same request
            charge_id=charge_id, payment_id=f"PAY-{charge_id.upper()}", amount=amount,
            token=event.token or "", gateway_customer=event.gateway_customer,
            description="Auto-pay water bill", attempt=1)
        result = kit.plugins.mandate_charge(config, request)
        if not isinstance(result, types.MandateChargeResult):
            fail("loket_gateway_mandate_charge must return a MandateChargeResult, not "
                 f"{type(result).__name__}")
        return result

    def test_a_gateway_without_mandates_says_not_supported(self, loket_kit: Kit) -> None:
        if loket_kit.description.mandates:
            pytest.skip("the gateway declares mandates; the mandate tests apply")
        config = loket_kit.config()
        expect(NotSupported, lambda: loket_kit.plugins.mandate_setup(
            config, _setup_request(loket_kit, config)),
            "asking a gateway with mandates=False for a mandate must be 'not supported'")

    def test_mandate_hooks_are_all_implemented(self, loket_kit: Kit) -> None:
        self._needs_mandates(loket_kit)
        other = loket_kit.config()
        other = types.GatewayConfig(id=other.id, tenant_id=other.tenant_id,
                                    kind="not-" + loket_kit.kind, credentials={},
                                    currency=other.currency, webhook_url=other.webhook_url,
                                    webhook_path=other.webhook_path)
        hook: Any = loket_kit.plugins.pm.hook
        for name in sorted(hookspecs.MANDATE_HOOKS):
            if not getattr(hook, name).get_hookimpls():
                fail(f"mandates=True but no plugin implements {name}")
        if hook.loket_gateway_mandate_setup(config=other, request=_setup_request(
                loket_kit, other)) is not None:
            fail("loket_gateway_mandate_setup must return None for another gateway's kind")

    def test_mandate_setup_is_idempotent_and_answers_an_absolute_url(self, loket_kit: Kit
                                                                    ) -> None:
        self._needs_mandates(loket_kit)
        config = loket_kit.config()
        request = _setup_request(loket_kit, config)
        first = loket_kit.plugins.mandate_setup(config, request)
        again = loket_kit.plugins.mandate_setup(config, request)
        if not isinstance(first, types.MandateSetup):
            fail("loket_gateway_mandate_setup must return a MandateSetup")
        if not first.redirect_url.startswith(("http://", "https://")):
            fail("loket_gateway_mandate_setup: redirect_url must be absolute")
        if (again.gateway_reference, again.redirect_url) != (first.gateway_reference,
                                                             first.redirect_url):
            fail("loket_gateway_mandate_setup must be idempotent on mandate_id: the same "
                 "request answered two different set-ups")

    def test_a_completed_setup_is_active_with_a_masked_payment_method(self, loket_kit: Kit
                                                                       ) -> None:
        self._needs_mandates(loket_kit)
        config = loket_kit.config()
        _request, _setup, event = self._active(loket_kit, config, "ok")
        last4 = event.method.last4
        if last4 and (len(last4) != 4 or not last4.isdigit()):
            fail("PaymentMethodSummary.last4 must be the last four digits only")

    def test_mandate_events_are_not_payment_events(self, loket_kit: Kit) -> None:
        self._needs_mandates(loket_kit)
        config = loket_kit.config()
        request = _setup_request(loket_kit, config)
        setup = loket_kit.plugins.mandate_setup(config, request)
        for webhook in loket_kit.harness.payer_saves_mandate(config, setup, "ok"):
            kinds = {e.type for e in loket_kit.plugins.parse_webhook(config, webhook)}
            if kinds - {types.EVENT_IGNORED}:
                fail("loket_gateway_parse_webhook must answer 'ignored' for mandate set-up "
                     f"webhooks (they name no payment); it answered {sorted(kinds)}")

    def test_an_off_session_charge_succeeds_once_per_charge_id(self, loket_kit: Kit) -> None:
        self._needs_mandates(loket_kit)
        config = loket_kit.config()
        _request, _setup, event = self._active(loket_kit, config, "ok")
        charge_id = f"autopay-kit-{uuid.uuid4().hex[:12]}"
        first = self._charge(loket_kit, config, event, charge_id)
        again = self._charge(loket_kit, config, event, charge_id)
        if first.outcome != types.ChargeOutcome.SUCCEEDED:
            fail(f"a charge of an 'ok' mandate must succeed; got {first.outcome} "
                 f"({first.decline_code}: {first.message})")
        if again.gateway_reference != first.gateway_reference:
            fail("loket_gateway_mandate_charge must be idempotent on charge_id: the same "
                 "attempt charged twice made two charges")

    @pytest.mark.parametrize("behaviour,kind", [("soft", types.DeclineKind.SOFT),
                                                ("hard", types.DeclineKind.HARD)])
    def test_declines_are_classified(self, loket_kit: Kit, behaviour: str,
                                     kind: types.DeclineKind) -> None:
        self._needs_mandates(loket_kit)
        config = loket_kit.config()
        _request, _setup, event = self._active(loket_kit, config, behaviour)
        result = self._charge(loket_kit, config, event)
        if result.outcome != types.ChargeOutcome.DECLINED or result.decline_kind != kind:
            fail(f"a charge of a '{behaviour}' mandate must be declined as {kind}; got "
                 f"{result.outcome} {result.decline_kind}")
        if not result.decline_code:
            fail("a declined charge must carry the gateway's decline_code")

    def test_a_revoked_mandate_is_not_charged(self, loket_kit: Kit) -> None:
        self._needs_mandates(loket_kit)
        config = loket_kit.config()
        _request, setup, event = self._active(loket_kit, config, "ok")
        if loket_kit.plugins.mandate_revoke(config, setup.gateway_reference,
                                            event.token) is not True:
            fail("loket_gateway_mandate_revoke must return True")
        loket_kit.plugins.mandate_revoke(config, setup.gateway_reference, event.token)
        result = self._charge(loket_kit, config, event)
        if result.outcome != types.ChargeOutcome.DECLINED or \
                result.decline_kind != types.DeclineKind.HARD:
            fail("charging a revoked mandate must be a hard decline; got "
                 f"{result.outcome} {result.decline_kind}")
