"""What every group of hook calls shares: the pluggy manager and "first answer or a clear
error"."""

from __future__ import annotations

from typing import Any

import pluggy

from loket.errors import HookNotImplemented, ValidationFailed
from loket.types import DestinationDescription, GatewayDescription


class HookCaller:
    """The state the typed hook calls read; :class:`loket.plugins.Plugins` fills it."""

    pm: pluggy.PluginManager
    _gateways: dict[str, GatewayDescription]
    _gateway_plugins: dict[str, object]
    _destinations: dict[str, DestinationDescription]
    _channels: frozenset[str]
    _channel_plugins: dict[str, str]

    def _first(self, hook_name: str, what: str, **kwargs: Any) -> Any:
        result = getattr(self.pm.hook, hook_name)(**kwargs)
        if result is None:
            raise HookNotImplemented(f"no installed plugin implements {hook_name} for {what}")
        return result

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

