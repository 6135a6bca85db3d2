"""The typed calls of the gateway hooks, required and optional (mandates included).

An optional hook the gateway's plugin lacks raises :class:`~loket.errors.NotSupported`
("not supported by this gateway"), never a 500.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from loket import hookspecs
from loket.errors import NotSupported
from loket.plugins.calling import HookCaller
from loket.types import (
    CheckoutRequest,
    CheckoutSession,
    GatewayConfig,
    GatewayEvent,
    MandateChargeRequest,
    MandateChargeResult,
    MandateEvent,
    MandateSetup,
    MandateSetupRequest,
    RefundRequest,
    RefundResult,
    SettlementLine,
    StatusMapping,
    WebhookRequest,
)

GATEWAY_HOOK_PREFIX = "loket_gateway_"


class GatewayCalls(HookCaller):
    """The gateway hooks as typed methods."""

    def supports(self, kind: str, hook_name: str) -> bool:
        """Whether the gateway plugin of ``kind`` implements ``hook_name``."""
        plugin = self._gateway_plugins.get(kind)
        return plugin is not None and hasattr(plugin, hook_name)

    def _gateway(self, hook_name: str, config: GatewayConfig, **kwargs: Any) -> Any:
        if (hookspecs.GATEWAY_HOOKS.get(hook_name) == hookspecs.OPTIONAL
                and config.kind in self._gateway_plugins
                and not self.supports(config.kind, hook_name)):
            what = hook_name.removeprefix(GATEWAY_HOOK_PREFIX).replace("_", " ")
            raise NotSupported(f"{what} is not supported by this gateway ({config.kind})")
        return self._first(hook_name, config.kind, config=config, **kwargs)

    def validate_credentials(self, config: GatewayConfig,
                             credentials: dict[str, Any]) -> dict[str, Any]:
        """Run the gateway's credential check; returns the credentials to store."""
        result: dict[str, Any] = self._gateway("loket_gateway_validate_credentials", config,
                                               credentials=credentials)
        return result

    def handshake(self, config: GatewayConfig) -> dict[str, Any]:
        """Run the gateway's daily handshake; returns facts for the admin."""
        result: dict[str, Any] = self._gateway("loket_gateway_handshake", config)
        return result

    def charge(self, config: GatewayConfig, request: CheckoutRequest) -> CheckoutSession:
        """Create the hosted checkout through the gateway plugin."""
        result: CheckoutSession = self._gateway("loket_gateway_charge", config, request=request)
        return result

    def prepare_data(self, config: GatewayConfig, request: CheckoutRequest) -> dict:
        """The gateway's external payment data for a checkout (empty when it has none)."""
        result = self.pm.hook.loket_gateway_prepare_data(config=config, request=request)
        return dict(result or {})

    def parse_webhook(self, config: GatewayConfig, request: WebhookRequest) -> list[GatewayEvent]:
        """Verify and normalize a webhook request."""
        return list(self._gateway("loket_gateway_parse_webhook", config, request=request))

    def map_status(self, config: GatewayConfig, raw_status: str) -> StatusMapping:
        """Translate a raw gateway status."""
        result: StatusMapping = self._gateway("loket_gateway_map_status", config,
                                              raw_status=raw_status)
        return result

    def fetch_status(self, config: GatewayConfig, payment_id: str,
                     gateway_reference: str | None) -> GatewayEvent:
        """Ask the gateway for a payment's current state."""
        result: GatewayEvent = self._gateway("loket_gateway_fetch_status", config,
                                             payment_id=payment_id,
                                             gateway_reference=gateway_reference)
        return result

    def refund(self, config: GatewayConfig, request: RefundRequest) -> RefundResult:
        """Refund through the gateway."""
        result: RefundResult = self._gateway("loket_gateway_refund", config, request=request)
        return result

    def fetch_settlements(self, config: GatewayConfig, since: dt.datetime,
                          until: dt.datetime) -> list[SettlementLine]:
        """List settled payments in a period (optional hook: may raise NotSupported)."""
        return list(self._gateway("loket_gateway_fetch_settlements", config,
                                  since=since, until=until))

    def parse_settlement_report(self, config: GatewayConfig, content: bytes,
                                filename: str) -> Iterable[SettlementLine]:
        """Parse an uploaded settlement report (optional hook: may raise NotSupported).
        The lines come as the plugin gives them: a generator is read lazily, a block of
        lines at a time, by the reconciliation."""
        lines: Iterable[SettlementLine] = self._gateway(
            "loket_gateway_parse_settlement_report", config, content=content, filename=filename)
        return lines

    # -- mandate hooks (optional, contract 1.2) -----------------------------------------

    def supports_mandates(self, kind: str) -> bool:
        """Whether gateway ``kind`` is installed and says it stores mandates."""
        description = self._gateways.get(kind)
        return bool(description and description.mandates)

    def _require_mandates(self, config: GatewayConfig) -> None:
        if not self.supports_mandates(config.kind):
            name = self._gateways[config.kind].display_name if config.kind in self._gateways \
                else config.kind
            raise NotSupported(f"{name} does not support stored mandates (auto-pay); choose "
                               f"a gateway that does", field="gateway")

    def mandate_setup(self, config: GatewayConfig, request: MandateSetupRequest
                      ) -> MandateSetup:
        """Start a mandate set-up at the gateway (``NotSupported`` if it has none)."""
        self._require_mandates(config)
        return self._first("loket_gateway_mandate_setup", config.kind, config=config,
                           request=request)

    def parse_mandate_events(self, config: GatewayConfig, request: WebhookRequest
                             ) -> list[MandateEvent]:
        """Mandate events in a verified webhook request (empty for gateways without
        mandates)."""
        if not self.supports_mandates(config.kind):
            return []
        return list(self._first("loket_gateway_parse_mandate_events", config.kind,
                                config=config, request=request))

    def mandate_charge(self, config: GatewayConfig, request: MandateChargeRequest
                       ) -> MandateChargeResult:
        """Charge a mandate off-session (``NotSupported`` if the gateway has none)."""
        self._require_mandates(config)
        return self._first("loket_gateway_mandate_charge", config.kind, config=config,
                           request=request)

    def mandate_revoke(self, config: GatewayConfig, gateway_reference: str,
                       token: str | None) -> bool:
        """Cancel a mandate at the gateway (``NotSupported`` if the gateway has none)."""
        self._require_mandates(config)
        return bool(self._first("loket_gateway_mandate_revoke", config.kind, config=config,
                                gateway_reference=gateway_reference, token=token))

