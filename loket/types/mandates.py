"""Value types of the optional mandate hooks (stored payment methods charged off-session;
contract 1.2)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import attrs

from loket.money import Money
from loket.types._fields import frozen_dict
from loket.types.gateways import Customer


class MandateStatus(enum.StrEnum):
    """A stored mandate's state: waiting for the payer, usable, or over."""

    PENDING = "pending"
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"
    FAILED = "failed"


class MandateEventType(enum.StrEnum):
    """What a gateway may report about a mandate."""

    ACTIVE = "mandate.active"
    REVOKED = "mandate.revoked"
    EXPIRED = "mandate.expired"
    UPDATED = "mandate.updated"  # the payment method changed (e.g. a renewed card)
    FAILED = "mandate.failed"    # the payer did not complete the set-up


class ChargeOutcome(enum.StrEnum):
    """The gateway's answer to an off-session charge."""

    SUCCEEDED = "succeeded"
    PENDING = "pending"
    DECLINED = "declined"


class DeclineKind(enum.StrEnum):
    """How loket treats a decline: *soft* is tried again on the schedule, *hard* stops."""

    SOFT = "soft"
    HARD = "hard"


@attrs.frozen
class PaymentMethodSummary:
    """A stored payment method as people may see it (never the full number)."""

    brand: str = ""
    """Card brand or bank."""
    last4: str = ""
    """Last four digits."""
    exp_month: int | None = None
    """Expiry month."""
    exp_year: int | None = None
    """Expiry year."""


@attrs.frozen
class MandateSetupRequest:
    """What ``loket_gateway_mandate_setup`` turns into a page where the payer saves a
    payment method."""

    mandate_id: str
    """loket's reference of the mandate: the idempotency key, echoed in mandate events."""
    customer: Customer
    """The payer."""
    currency: str
    """The currency later charges are in."""
    return_url: str
    """Where the payer returns after saving."""
    cancel_url: str
    """Where a payer who cancels goes."""
    created_at: dt.datetime
    """When loket created the mandate."""
    gateway_customer: str | None = None
    """The gateway's customer id, when the payer already has one."""


@attrs.frozen
class MandateSetup:
    """Where to send the payer to set up a mandate, and the gateway's reference of it."""

    redirect_url: str
    """Absolute http(s) URL of the set-up page."""
    gateway_reference: str
    """The gateway's id of the set-up."""
    raw: dict[str, Any] = attrs.field(factory=dict, converter=frozen_dict)
    """Anything to keep (JSON-ready)."""


@attrs.frozen
class MandateEvent:
    """A normalized mandate event from a webhook."""

    event_id: str
    """Unique per configuration (de-duplication key)."""
    type: MandateEventType
    """What happened."""
    mandate_id: str | None = None
    """loket's reference, when the gateway echoes it."""
    gateway_reference: str | None = None
    """The gateway's reference of the mandate."""
    token: str | None = None
    """What to charge later (e.g. a Stripe PaymentMethod)."""
    gateway_customer: str | None = None
    """The gateway's customer holding it."""
    method: PaymentMethodSummary = attrs.field(factory=PaymentMethodSummary)
    """The saved method as people may see it."""
    occurred_at: dt.datetime | None = None
    """When it happened at the gateway."""


@attrs.frozen
class MandateChargeRequest:
    """An off-session charge of a stored mandate."""

    charge_id: str
    """Payment number and attempt: the gateway idempotency key (one attempt, one charge)."""
    payment_id: str
    """loket's payment number."""
    amount: Money
    """The amount to charge."""
    token: str
    """The stored payment method."""
    gateway_customer: str | None
    """The gateway's customer holding it."""
    description: str = ""
    """Statement text."""
    attempt: int = 1
    """Which attempt this is (1 for the first)."""


@attrs.frozen
class MandateChargeResult:
    """The gateway's answer to an off-session charge."""

    outcome: ChargeOutcome
    """``succeeded``, ``pending`` (the payment webhook will tell) or ``declined``."""
    gateway_reference: str | None = None
    """The gateway's id of the charge."""
    decline_code: str | None = None
    """The gateway's own decline code."""
    decline_kind: DeclineKind | None = None
    """``soft`` (tried again on the schedule) or ``hard`` (stops)."""
    message: str | None = None
    """The gateway's words."""
    raw: dict[str, Any] = attrs.field(factory=dict, converter=frozen_dict)
    """The gateway's answer (JSON-ready)."""
