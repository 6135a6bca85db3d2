"""The plugin manager (:class:`Plugins`): loading plugins through entry points, checking
their contract, and calling their hooks through typed methods.

Core code never spells ``pm.hook.…``: it calls the methods of :class:`Plugins`.
"""

from loket.plugins.gateway_calls import GATEWAY_HOOK_PREFIX
from loket.plugins.manager import (
    DESTINATION_HOOK_PREFIX,
    ENTRY_POINT_GROUP,
    PluginInfo,
    Plugins,
    missing_required_hooks,
)

__all__ = [
    "DESTINATION_HOOK_PREFIX", "ENTRY_POINT_GROUP", "GATEWAY_HOOK_PREFIX", "PluginInfo",
    "Plugins", "missing_required_hooks",
]
