"""The plugin manager: built-ins and installed plugins, all found through entry points.

Built-in gateways and destination processors are registered exactly like third-party
plugins, through the ``loket`` entry-point group of loket's own distribution. A plugin that
fails to import, declares an incompatible contract, or is a gateway lacking a required hook
(:data:`loket.hookspecs.GATEWAY_HOOKS`) is reported by name and skipped; it never takes the
server down. Calling an optional hook a gateway lacks raises
:class:`~loket.errors.NotSupported`.

Core code never spells ``pm.hook.…``: it calls the typed methods of :class:`Plugins`.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import logging
from collections.abc import Iterable, Sequence
from typing import Any

import attrs
import pluggy

from loket import hookspecs
from loket.errors import HookNotImplemented, NotSupported, PluginError, ValidationFailed
from loket.money import Money
from loket.types import (
    Allocation,
    CheckoutRequest,
    CheckoutSession,
    DestinationDescription,
    DestinationTarget,
    FeeRule,
    GatewayConfig,
    GatewayDescription,
    GatewayEvent,
    LedgerReader,
    MandateChargeRequest,
    MandateChargeResult,
    MandateEvent,
    MandateSetup,
    MandateSetupRequest,
    Notification,
    Obligation,
    PaymentInfo,
    PlanInfo,
    Prepared,
    RefundRequest,
    RefundResult,
    ResolvedTarget,
    SettlementLine,
    StatusMapping,
    TrackingEvent,
    WebhookRequest,
)

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "loket"
GATEWAY_HOOK_PREFIX = "loket_gateway_"
DESTINATION_HOOK_PREFIX = "loket_destination_"


@attrs.frozen
class PluginInfo:
    """One row of ``loket plugins``: where a plugin comes from and what it implements."""

    name: str
    distribution: str
    version: str
    kind: str
    hooks: tuple[str, ...]
    contract: str
    error: str | None = None


def _contract_compatible(declared: str) -> bool:
    return declared.split(".")[0] == hookspecs.CONTRACT_VERSION.split(".")[0]


def missing_required_hooks(plugin: object) -> list[str]:
    """The required gateway hooks a gateway plugin lacks (empty for a non-gateway plugin)."""
    if not hasattr(plugin, "loket_gateway_describe"):
        return []
    return [name for name, need in hookspecs.GATEWAY_HOOKS.items()
            if need == hookspecs.REQUIRED and not hasattr(plugin, name)]


class Plugins:
    """A typed wrapper around pluggy's manager for the ``loket`` project.

    :param blocked: plugin (entry point) names not to load, from the ``disabled_plugins``
        setting.
    :param extra: plugin objects to register in addition (tests, embedding hosts).
    """

    def __init__(self, blocked: tuple[str, ...] = (), extra: tuple[Any, ...] = ()) -> None:
        self.pm = pluggy.PluginManager("loket")
        self.pm.add_hookspecs(hookspecs)
        self.broken: dict[str, str] = {}
        self._dist: dict[str, tuple[str, str]] = {}
        for name in blocked:
            self.pm.set_blocked(name)
        self._load_entry_points()
        for plugin in extra:
            self.register(plugin)
        self.pm.check_pending()
        self._gateway_plugins: dict[str, object] = {}
        self._gateways = self._collect_gateways()
        self._destinations = self._collect_destinations()
        self._check_mandate_hooks()
        self._channels = self._collect_channels()

    # -- loading ------------------------------------------------------------------------

    def _load_entry_points(self) -> None:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if self.pm.is_blocked(ep.name) or self.pm.has_plugin(ep.name):
                continue
            try:
                plugin = ep.load()
                self._check_contract(ep.name, plugin)
                self.pm.register(plugin, name=ep.name)
            except Exception as exc:  # a broken plugin must not take loket down
                message = f"{type(exc).__name__}: {exc}"
                self.broken[ep.name] = message
                log.error("plugin %r could not be loaded: %s", ep.name, message)
                continue
            dist = ep.dist
            self._dist[ep.name] = (dist.name, dist.version) if dist else ("?", "?")

    def _check_contract(self, name: str, plugin: Any) -> None:
        declared = str(getattr(plugin, "LOKET_CONTRACT", hookspecs.CONTRACT_VERSION))
        if not _contract_compatible(declared):
            raise PluginError(
                f"plugin {name!r} was written for loket plugin contract {declared}, but this "
                f"loket provides contract {hookspecs.CONTRACT_VERSION}; install a version of "
                f"the plugin made for contract {hookspecs.CONTRACT_VERSION.split('.')[0]}.x "
                f"or a loket that provides {declared}"
            )
        missing = missing_required_hooks(plugin)
        if missing:
            raise PluginError(
                f"gateway plugin {name!r} lacks the required hook(s) {', '.join(missing)}"
            )

    def register(self, plugin: Any, name: str | None = None) -> None:
        """Register a plugin object (module or instance) after checking its contract."""
        name = name or getattr(plugin, "__name__", None) or repr(plugin)
        self._check_contract(name, plugin)
        self.pm.register(plugin, name=name)
        self._dist.setdefault(name, ("(registered)", ""))

    def _collect_gateways(self) -> dict[str, GatewayDescription]:
        found: dict[str, GatewayDescription] = {}
        for description in self.pm.hook.loket_gateway_describe():
            if description is None:
                continue
            if description.kind in found:
                raise PluginError(f"two plugins provide the gateway kind {description.kind!r}")
            found[description.kind] = description
        # Which plugin provides each kind, so optional hooks it lacks are known (describe is
        # cheap and pure; asking each implementation again is the only way to pair them).
        for impl in self.pm.hook.loket_gateway_describe.get_hookimpls():
            mine = impl.function()
            if isinstance(mine, GatewayDescription):
                self._gateway_plugins[mine.kind] = impl.plugin
        return found

    def _check_mandate_hooks(self) -> None:
        implemented = {name for name in hookspecs.MANDATE_HOOKS
                       if getattr(self.pm.hook, name).get_hookimpls()}
        for kind, description in self._gateways.items():
            missing = sorted(hookspecs.MANDATE_HOOKS - implemented)
            if description.mandates and missing:
                raise PluginError(f"gateway {kind!r} says it supports mandates but no plugin "
                                  f"implements {', '.join(missing)}")

    def _collect_destinations(self) -> dict[str, DestinationDescription]:
        # Results come last-registered first; built-ins are trylast, so an installed plugin
        # with the same processor name is seen first and wins.
        found: dict[str, DestinationDescription] = {}
        for description in self.pm.hook.loket_destination_describe():
            if description is not None:
                found.setdefault(description.name, description)
        return found

    def _collect_channels(self) -> frozenset[str]:
        found: set[str] = set()
        for names in self.pm.hook.loket_channel_describe():
            for name in names or ():
                if name in found:
                    raise PluginError(f"two plugins provide the message channel {name!r}")
                found.add(name)
        return frozenset(found)

    # -- introspection ------------------------------------------------------------------

    def infos(self) -> list[PluginInfo]:
        """Describe every plugin, loaded or broken, for ``loket plugins`` and ``/health``."""
        rows: list[PluginInfo] = []
        for name, plugin in self.pm.list_name_plugin():
            hooks = tuple(sorted(h.name for h in self.pm.get_hookcallers(plugin) or ()))
            if any(h.startswith(GATEWAY_HOOK_PREFIX) for h in hooks):
                kind = "gateway"
            elif any(h.startswith(DESTINATION_HOOK_PREFIX) for h in hooks):
                kind = "destination"
            else:
                kind = "other"
            dist, version = self._dist.get(name, ("?", "?"))
            contract = str(getattr(plugin, "LOKET_CONTRACT", "(undeclared)"))
            rows.append(PluginInfo(name, dist, version, kind, hooks, contract))
        for name, error in self.broken.items():
            rows.append(PluginInfo(name, "?", "?", "broken", (), "?", error))
        return sorted(rows, key=lambda r: r.name)

    @property
    def gateways(self) -> dict[str, GatewayDescription]:
        """Installed gateways by kind."""
        return dict(self._gateways)

    @property
    def destinations(self) -> dict[str, DestinationDescription]:
        """Installed destination processors by name."""
        return dict(self._destinations)

    def attribute_schemas(self) -> dict[str, dict]:
        """Receivable kinds the installed processors read, with their attribute schemas."""
        out: dict[str, dict] = {}
        for description in self._destinations.values():
            for kind, schema in description.attribute_schemas.items():
                out.setdefault(kind, schema)
        return out

    def gateway(self, kind: str) -> GatewayDescription:
        """Return the description of gateway ``kind`` or raise a clear error."""
        try:
            return self._gateways[kind]
        except KeyError:
            raise ValidationFailed(
                f"no gateway plugin of kind {kind!r} is installed "
                f"(installed: {', '.join(sorted(self._gateways)) or 'none'})",
                field="gateway",
            ) from None

    def require_processor(self, name: str) -> DestinationDescription:
        """Return the processor ``name`` or raise an error naming it."""
        try:
            return self._destinations[name]
        except KeyError:
            raise ValidationFailed(
                f"destination processor {name!r} is not installed "
                f"(installed: {', '.join(sorted(self._destinations)) or 'none'})",
                field="destination",
            ) from None

    # -- gateway hooks --------------------------------------------------------------------

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

    def _first(self, hook_name: str, what: str, **kwargs: Any) -> Any:
        result = getattr(self.pm.hook, hook_name)(**kwargs)
        if result is None:
            raise HookNotImplemented(f"no installed plugin implements {hook_name} for {what}")
        return result

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

    # -- destination hooks --------------------------------------------------------------

    def retrieve_due(self, processor: str, ledger: LedgerReader,
                     account_number: str) -> list[Obligation]:
        """What ``account_number`` owes for ``processor``."""
        self.require_processor(processor)
        return list(self._first("loket_destination_retrieve_due", processor,
                                processor=processor, ledger=ledger,
                                account_number=account_number))

    def validate_target(self, processor: str, ledger: LedgerReader,
                        target: DestinationTarget) -> ResolvedTarget:
        """Resolve a target to obligations (validate-only)."""
        self.require_processor(processor)
        result: ResolvedTarget = self._first("loket_destination_validate", processor,
                           processor=processor, ledger=ledger, target=target)
        return result

    def prepare(self, processor: str, resolved: ResolvedTarget, method: str, person_type: str,
                fee_rule: FeeRule | None) -> Prepared:
        """Fee and gateway extras for a resolved target."""
        result: Prepared = self._first("loket_destination_prepare", processor, processor=processor,
                           resolved=resolved, method=method, person_type=person_type,
                           fee_rule=fee_rule)
        return result

    def apply(self, processor: str, ledger: LedgerReader, resolved: ResolvedTarget,
              amount: Money) -> list[Allocation]:
        """Allocation decided by the processor."""
        return list(self._first("loket_destination_apply", processor, processor=processor,
                                ledger=ledger, resolved=resolved, amount=amount))

    # -- outbound -----------------------------------------------------------------------

    def notify(self, notification: Notification) -> None:
        """Hand a notification to every notifier plugin."""
        self.pm.hook.loket_notify(notification=notification)

    def track(self, event: TrackingEvent) -> None:
        """Hand a tracking event to every tracking sink."""
        self.pm.hook.loket_track(event=event)

    def track_many(self, events: Sequence[TrackingEvent]) -> None:
        """Hand many tracking events to every sink: together to the sinks implementing
        ``loket_track_many``, one by one to the others."""
        if not events:
            return
        together = [impl.plugin for impl in self.pm.hook.loket_track_many.get_hookimpls()]
        self.pm.hook.loket_track_many(events=list(events))
        one_by_one = self.pm.subset_hook_caller("loket_track", remove_plugins=together)
        for event in events:
            one_by_one(event=event)

    def payment_status_changed(self, payment: PaymentInfo, old_status: str | None,
                               new_status: str) -> None:
        """Tell every interested plugin a payment changed state."""
        self.pm.hook.loket_payment_status_changed(
            payment=payment, old_status=old_status, new_status=new_status)

    def plan_defaulted(self, plan: PlanInfo) -> None:
        """Tell every interested plugin a payment plan defaulted."""
        self.pm.hook.loket_plan_defaulted(plan=plan)

    @property
    def channels(self) -> frozenset[str]:
        """Message channels the installed plugins send on (``email``, ``sms``…)."""
        return self._channels

    def channel_send(self, channel: str, recipient: str, message, options: dict) -> Any:
        """Send one message on ``channel``; returns the provider's reference.

        :raises PluginError: no installed plugin sends on ``channel``.
        """
        return self._first("loket_channel_send", f"channel {channel!r}", channel=channel,
                           recipient=recipient, message=message, options=options)

    def routes(self) -> list[tuple[str, Any]]:
        """Extra HTTP routes plugins add."""
        out: list[tuple[str, Any]] = []
        result: Sequence[tuple[str, Any]] | None
        for result in self.pm.hook.loket_register_routes():
            out.extend(result or ())
        return out
