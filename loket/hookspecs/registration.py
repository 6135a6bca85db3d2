"""Registration hooks: called once when the plugin manager or the server starts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loket.hookspecs._marker import hookspec
from loket.types import DestinationDescription, GatewayDescription


@hookspec
def loket_gateway_describe() -> GatewayDescription | None:
    """Required. Describe the gateway this plugin provides.

    Called at start-up and whenever the gateway list is shown to a tenant admin. Every
    gateway plugin answers; kinds must be unique (a duplicate is refused at start-up).

    :returns: a :class:`~loket.types.GatewayDescription`, or ``None`` for a plugin that
        provides no gateway.

    .. versionadded:: 1.0
    """


@hookspec
def loket_destination_describe() -> DestinationDescription | None:
    """Describe the destination processor this plugin provides (OPC "processor").

    Called at start-up. A plugin answering with the ``name`` of a built-in processor
    replaces it (built-ins are registered ``trylast``).

    :returns: a :class:`~loket.types.DestinationDescription`, or ``None``.

    .. versionadded:: 1.0
    """


@hookspec
def loket_register_routes() -> Sequence[tuple[str, Any]] | None:
    """Add HTTP routes to the server (e.g. the sandbox gateway's hosted page).

    Called once by ``create_app``.

    :returns: a list of ``(path, resource)`` pairs in Falcon's routing syntax, or ``None``.
        A resource is constructed with no arguments and receives ``req.context.loket``.

    .. versionadded:: 1.0
    """
