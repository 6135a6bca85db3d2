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

import importlib.metadata
import logging
from typing import Any

import attrs
import pluggy

from loket import hookspecs
from loket.errors import PluginError, ValidationFailed
from loket.plugins.destination_calls import CHANNEL_VAR_DIR, DestinationCalls
from loket.plugins.gateway_calls import GATEWAY_HOOK_PREFIX, GatewayCalls
from loket.types import DestinationDescription, GatewayDescription

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "loket"
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


class Plugins(GatewayCalls, DestinationCalls):
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
        # Each channel is paired with the name of the plugin that declared it: only that
        # plugin is asked to send on it (a plugin bound later under the same name, like the
        # e-mail notifier, takes its place).
        self._channel_plugins = {}
        impls = [impl for impl in self.pm.hook.loket_channel_describe.get_hookimpls()
                 if not (impl.hookwrapper or impl.wrapper)]
        for impl in impls:
            describe = self.pm.subset_hook_caller("loket_channel_describe", remove_plugins=[
                other.plugin for other in impls if other.plugin is not impl.plugin])
            for name in dict.fromkeys(name for names in describe() for name in names or ()):
                if name in self._channel_plugins:
                    raise PluginError(f"two plugins provide the message channel {name!r}")
                if name == CHANNEL_VAR_DIR:
                    raise PluginError(f"plugin {impl.plugin_name!r} names a message channel "
                                      f"{name!r}, a name reserved for the var directory")
                self._channel_plugins[name] = impl.plugin_name
        return frozenset(self._channel_plugins)

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

