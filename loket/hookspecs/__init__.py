"""THE plugin contract of loket: every hook, with when it is called and what it returns.

Hooks are grouped by concept in this package's modules (registration, gateways,
settlements, mandates, destinations, outbound) and all re-exported here, so
``pm.add_hookspecs(loket.hookspecs)`` registers every one. Arguments are always passed by
keyword, and an implementation may accept fewer arguments than the spec declares, so a spec
can grow without breaking plugins. ``docs/plugin-reference.md`` is generated from them
(``loket plugin reference``).

Gateway hooks receive the tenant's :class:`~loket.types.GatewayConfig`; an implementation
returns ``None`` when ``config.kind`` is not its own, and the first non-``None`` result wins
(``firstresult=True``). Destination hooks do the same with ``processor``.

A plugin declares the contract it was written for with a module attribute
``LOKET_CONTRACT = CONTRACT_VERSION`` (imported from :mod:`loket.plugin_api`); loket
refuses a plugin whose major version differs from :data:`CONTRACT_VERSION`.

Every gateway hook is either **required** (a gateway plugin lacking it is reported broken at
load and not used) or **optional** (calling it on a gateway that lacks it raises
:class:`~loket.errors.NotSupported`, "not supported by this gateway", a 4xx over the API).
:data:`GATEWAY_HOOKS` is the table the plugin manager checks; each hook's docstring says the
same in its first line.
"""

from __future__ import annotations

from collections.abc import Mapping

from loket.hookspecs._marker import hookspec
from loket.hookspecs.destinations import (
    loket_destination_apply,
    loket_destination_prepare,
    loket_destination_retrieve_due,
    loket_destination_validate,
)
from loket.hookspecs.gateways import (
    loket_gateway_charge,
    loket_gateway_fetch_status,
    loket_gateway_handshake,
    loket_gateway_map_status,
    loket_gateway_parse_webhook,
    loket_gateway_prepare_data,
    loket_gateway_refund,
    loket_gateway_validate_credentials,
)
from loket.hookspecs.mandates import (
    loket_gateway_mandate_charge,
    loket_gateway_mandate_revoke,
    loket_gateway_mandate_setup,
    loket_gateway_parse_mandate_events,
)
from loket.hookspecs.outbound import (
    loket_channel_describe,
    loket_channel_send,
    loket_notify,
    loket_payment_status_changed,
    loket_plan_defaulted,
    loket_track,
    loket_track_many,
)
from loket.hookspecs.registration import (
    loket_destination_describe,
    loket_gateway_describe,
    loket_register_routes,
)
from loket.hookspecs.settlements import (
    loket_gateway_fetch_settlements,
    loket_gateway_parse_settlement_report,
)

CONTRACT_VERSION = "1.3"
"""Version of this contract, the one string every plugin and document quotes. The major
number changes when a hook changes incompatibly; the minor number when something is added
(1.1: the ``refund.failed`` event type and ``CheckoutRequest.created_at``; 1.2: the
optional mandate hooks and the notification-channel hooks; 1.3: settlement words as
:class:`~loket.types.SettlementStatus`, ``(keep)``, ``failed`` refund results, the helpers
of :mod:`loket.plugin_api` for amounts, JSON, signatures and emulators)."""

REQUIRED = "required"
OPTIONAL = "optional"

GATEWAY_HOOKS: Mapping[str, str] = {
    "loket_gateway_describe": REQUIRED,
    "loket_gateway_validate_credentials": REQUIRED,
    "loket_gateway_handshake": REQUIRED,
    "loket_gateway_charge": REQUIRED,
    "loket_gateway_parse_webhook": REQUIRED,
    "loket_gateway_map_status": REQUIRED,
    "loket_gateway_fetch_status": REQUIRED,
    "loket_gateway_refund": REQUIRED,
    "loket_gateway_fetch_settlements": OPTIONAL,
    "loket_gateway_parse_settlement_report": OPTIONAL,
    "loket_gateway_mandate_setup": OPTIONAL,
    "loket_gateway_parse_mandate_events": OPTIONAL,
    "loket_gateway_mandate_charge": OPTIONAL,
    "loket_gateway_mandate_revoke": OPTIONAL,
    "loket_gateway_prepare_data": OPTIONAL,
}
"""Every gateway hook, required or optional. A plugin is a gateway plugin when it implements
``loket_gateway_describe``; it must then implement every required hook."""

MANDATE_HOOKS = frozenset({
    "loket_gateway_mandate_setup",
    "loket_gateway_parse_mandate_events",
    "loket_gateway_mandate_charge",
    "loket_gateway_mandate_revoke",
})
"""The optional hooks of stored mandates: a gateway whose description says ``mandates=True``
must implement all of them (checked when the plugins load)."""

__all__ = [
    "CONTRACT_VERSION", "GATEWAY_HOOKS", "MANDATE_HOOKS", "OPTIONAL", "REQUIRED", "hookspec",
    "loket_channel_describe", "loket_channel_send", "loket_destination_apply",
    "loket_destination_describe", "loket_destination_prepare", "loket_destination_retrieve_due",
    "loket_destination_validate", "loket_gateway_charge", "loket_gateway_describe",
    "loket_gateway_fetch_settlements", "loket_gateway_fetch_status", "loket_gateway_handshake",
    "loket_gateway_mandate_charge", "loket_gateway_mandate_revoke",
    "loket_gateway_mandate_setup", "loket_gateway_map_status",
    "loket_gateway_parse_mandate_events", "loket_gateway_parse_settlement_report",
    "loket_gateway_parse_webhook", "loket_gateway_prepare_data", "loket_gateway_refund",
    "loket_gateway_validate_credentials", "loket_notify", "loket_payment_status_changed",
    "loket_plan_defaulted", "loket_register_routes", "loket_track",
    "loket_track_many",
]
