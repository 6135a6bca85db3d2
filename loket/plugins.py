"""The plugin manager: built-ins and installed plugins, all found through entry points.

Built-in gateways and destination processors are registered exactly like third-party
plugins, through the ``loket`` entry-point group of loket's own distribution. A plugin that
fails to import, or declares an incompatible contract, is reported by name and skipped; it
never takes the server down.

Core code never spells ``pm.hook.…``: it calls the typed methods of :class:`Plugins`.
"""

from __future__ import annotations

import importlib.metadata
import logging
from typing import Any

import attrs
import pluggy

from loket import hookspecs
from loket.errors import PluginError, ValidationFailed
from loket.types import (
    CheckoutRequest,
    CheckoutSession,
    DestinationDescription,
    GatewayConfig,
    GatewayDescription,
    GatewayEvent,
    RefundRequest,
    RefundResult,
    StatusMapping,
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


class Plugins:
    """A typed wrapper around pluggy's manager for the ``loket`` project.

    :param blocked: plugin (entry point) names not to load, from the ``disabled_plugins``
        setting.
    :param extra: plugin objects to register in addition (tests, embedding hosts).
    """

    def __init__(self, blocked: tuple[str, ...] = (), extra: tuple[Any, ...] = ()):
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
        self._gateways = self._collect_gateways()
        self._destinations = self._collect_destinations()
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
        return found

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
        rows = []
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

    def _first(self, hook_name: str, what: str, **kwargs) -> Any:
        result = getattr(self.pm.hook, hook_name)(**kwargs)
        if result is None:
            raise PluginError(f"no installed plugin implements {hook_name} for {what}")
        return result

    def validate_credentials(self, config: GatewayConfig, credentials: dict) -> dict:
        """Run the gateway's credential check; returns the credentials to store."""
        return self._first("loket_gateway_validate_credentials", config.kind,
                           config=config, credentials=credentials)

    def handshake(self, config: GatewayConfig) -> dict:
        """Run the gateway's daily handshake; returns facts for the admin."""
        return self._first("loket_gateway_handshake", config.kind, config=config)

    def charge(self, config: GatewayConfig, request: CheckoutRequest) -> CheckoutSession:
        """Create the hosted checkout through the gateway plugin."""
        return self._first("loket_gateway_charge", config.kind, config=config, request=request)

    def parse_webhook(self, config: GatewayConfig, request: WebhookRequest) -> list[GatewayEvent]:
        """Verify and normalize a webhook request."""
        return list(self._first("loket_gateway_parse_webhook", config.kind,
                                config=config, request=request))

    def map_status(self, config: GatewayConfig, raw_status: str) -> StatusMapping:
        """Translate a raw gateway status."""
        return self._first("loket_gateway_map_status", config.kind,
                           config=config, raw_status=raw_status)

    def fetch_status(self, config: GatewayConfig, payment_id: str,
                     gateway_reference: str | None) -> GatewayEvent:
        """Ask the gateway for a payment's current state."""
        return self._first("loket_gateway_fetch_status", config.kind, config=config,
                           payment_id=payment_id, gateway_reference=gateway_reference)

    def refund(self, config: GatewayConfig, request: RefundRequest) -> RefundResult:
        """Refund through the gateway."""
        return self._first("loket_gateway_refund", config.kind, config=config, request=request)

    def fetch_settlements(self, config: GatewayConfig, since, until) -> list:
        """List settled payments in a period."""
        return list(self._first("loket_gateway_fetch_settlements", config.kind,
                                config=config, since=since, until=until))

    def parse_settlement_report(self, config: GatewayConfig, content: bytes,
                                filename: str) -> list:
        """Parse an uploaded settlement report."""
        return list(self._first("loket_gateway_parse_settlement_report", config.kind,
                                config=config, content=content, filename=filename))

    # -- destination hooks --------------------------------------------------------------

    def retrieve_due(self, processor: str, ledger, account_number: str) -> list:
        """What ``account_number`` owes for ``processor``."""
        self.require_processor(processor)
        return list(self._first("loket_destination_retrieve_due", processor,
                                processor=processor, ledger=ledger,
                                account_number=account_number))

    def validate_target(self, processor: str, ledger, target):
        """Resolve a target to obligations (validate-only)."""
        self.require_processor(processor)
        return self._first("loket_destination_validate", processor,
                           processor=processor, ledger=ledger, target=target)

    def prepare(self, processor: str, resolved, method: str, person_type: str, fee_rule):
        """Fee and gateway extras for a resolved target."""
        return self._first("loket_destination_prepare", processor, processor=processor,
                           resolved=resolved, method=method, person_type=person_type,
                           fee_rule=fee_rule)

    def apply(self, processor: str, ledger, resolved, amount) -> list:
        """Allocation decided by the processor."""
        return list(self._first("loket_destination_apply", processor, processor=processor,
                                ledger=ledger, resolved=resolved, amount=amount))

    # -- outbound -----------------------------------------------------------------------

    def notify(self, notification) -> None:
        """Hand a notification to every notifier plugin."""
        self.pm.hook.loket_notify(notification=notification)

    def track(self, event) -> None:
        """Hand a tracking event to every tracking sink."""
        self.pm.hook.loket_track(event=event)

    def payment_status_changed(self, payment, old_status, new_status) -> None:
        """Tell every interested plugin a payment changed state."""
        self.pm.hook.loket_payment_status_changed(
            payment=payment, old_status=old_status, new_status=new_status)

    def plan_defaulted(self, plan) -> None:
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
        out = []
        for result in self.pm.hook.loket_register_routes():
            out.extend(result or ())
        return out
