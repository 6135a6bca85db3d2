"""Value types of the outbound hooks: notifications, tracking, payment and plan changes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from loket.money import Money
from loket.types._fields import frozen_dict


@attrs.frozen
class Notification:
    """A message for a person: a consumer-facing status change or a staff alert."""

    tenant_id: int
    """The tenant it is about."""
    kind: str
    """What happened (``payment.succeeded``, ``gateway.handshake_failed``)."""
    subject: str
    """Subject line."""
    body: str
    """Plain-text body."""
    recipients: tuple[str, ...] = ()
    """E-mail addresses (or other addresses a notifier understands)."""
    data: dict[str, Any] = attrs.field(factory=dict, converter=frozen_dict)
    """Facts for templates (JSON-ready)."""


@attrs.frozen
class TrackingEvent:
    """A behaviour-tracking event (``gateway.activated``, ``payment.searched``...)."""

    tenant_id: int | None
    """The tenant, or ``None`` for the installation."""
    name: str
    """The event name."""
    actor: str | None = None
    """Who did it."""
    properties: dict[str, Any] = attrs.field(factory=dict, converter=frozen_dict)
    """Facts about it (JSON-ready)."""
    at: dt.datetime | None = None
    """When (default: now)."""


@attrs.frozen
class PaymentInfo:
    """A payment as outbound hooks see it."""

    tenant_id: int
    """The tenant."""
    payment_id: str
    """loket's payment number."""
    status: str
    """A :class:`~loket.types.PaymentStatus`."""
    amount: Money
    """The amount."""
    account_number: str | None
    """The paying account, when there is one."""
    gateway: str | None = None
    """The gateway kind (``None`` for a counter payment)."""
    failure_message: str | None = None
    """The gateway's words for a failed payment."""
    details: dict[str, Any] = attrs.field(factory=dict, converter=frozen_dict)
    """Further facts (JSON-ready)."""


@attrs.frozen
class PlanInfo:
    """A payment plan as outbound hooks see it."""

    tenant_id: int
    """The tenant."""
    reference: str
    """The plan's reference."""
    account_number: str
    """The account it belongs to."""
    missed_installments: int
    """How many installments were missed."""
    details: dict[str, Any] = attrs.field(factory=dict, converter=frozen_dict)
    """Further facts (JSON-ready)."""


def json_safe(value: Any) -> Any:
    """Turn a value type (or nesting of them) into JSON-ready data."""
    if value is None or isinstance(value, (str, int)):  # the leaves, most of the calls
        return value
    if isinstance(value, Money):
        return value.to_json()
    if attrs.has(type(value)):
        return {k: json_safe(v) for k, v in attrs.asdict(value, recurse=False).items()}
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return value
