"""Value types that cross the plugin boundary (frozen attrs classes).

Gateway and destination plugins receive and return only these, never ORM rows. Amounts are
:class:`~loket.money.Money` (integer minor units), never floats.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Protocol

import attrs

from loket.money import Money


class PaymentStatus(StrEnum):
    """A payment's state (the one state machine lives in loket.core.payments.lifecycle)."""

    INITIATED = "initiated"
    SUCCEEDED = "succeeded"
    COMPLETED = "completed"
    POSTED = "posted"
    FAILED = "failed"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"
    CANCELLED = "cancelled"


INITIATED = PaymentStatus.INITIATED
SUCCEEDED = PaymentStatus.SUCCEEDED
COMPLETED = PaymentStatus.COMPLETED
POSTED = PaymentStatus.POSTED
FAILED = PaymentStatus.FAILED
REFUNDED = PaymentStatus.REFUNDED
PARTIALLY_REFUNDED = PaymentStatus.PARTIALLY_REFUNDED
CANCELLED = PaymentStatus.CANCELLED


class EventType(StrEnum):
    """Normalized event types a gateway's parse/fetch hooks return."""

    PENDING = "payment.pending"
    SUCCEEDED = "payment.succeeded"
    FAILED = "payment.failed"
    EXPIRED = "payment.expired"
    REFUNDED = "payment.refunded"
    SETTLED = "payment.settled"
    SETTLEMENT_FAILED = "settlement.failed"
    REFUND_FAILED = "refund.failed"  # contract 1.1
    IGNORED = "ignored"


EVENT_PENDING = EventType.PENDING
EVENT_SUCCEEDED = EventType.SUCCEEDED
EVENT_FAILED = EventType.FAILED
EVENT_EXPIRED = EventType.EXPIRED
EVENT_REFUNDED = EventType.REFUNDED
EVENT_SETTLED = EventType.SETTLED
EVENT_SETTLEMENT_FAILED = EventType.SETTLEMENT_FAILED
EVENT_REFUND_FAILED = EventType.REFUND_FAILED
EVENT_IGNORED = EventType.IGNORED
EVENT_TYPES = tuple(EventType)


class RefundStatus(StrEnum):
    """What a gateway says of a refund it accepted (``RefundResult.status``, refund rows)."""

    SUCCEEDED = "succeeded"
    PENDING = "pending"
    FAILED = "failed"


# Failure categories shown to staff and payers.
FAILURE_CATEGORIES = (
    "declined", "insufficient_funds", "network", "technical", "abandoned", "timeout", "expired",
)


def _frozen_dict(value: Mapping | None) -> dict:
    return dict(value or {})


def _minimums(value: Mapping | None) -> dict[str, Money]:
    minimums = dict(value or {})
    for currency, minimum in minimums.items():
        if not isinstance(minimum, Money) or minimum.currency != currency:
            raise TypeError(f"minimum_charge[{currency!r}] must be Money in {currency}, e.g. "
                            f"Money.parse('10000', {currency!r}), not {minimum!r}")
    return minimums


@attrs.frozen
class GatewayDescription:
    """What a gateway plugin offers: returned by ``loket_gateway_describe``.

    ``credential_schema`` is a JSON Schema (draft 2020-12) for the credentials form;
    ``secret_fields`` are encrypted at rest and masked in output; ``currencies`` lists the
    ISO codes the gateway charges in (empty = any); ``statuses`` every raw status the gateway
    may report (the conformance kit checks each one maps); ``minimum_charge`` maps a currency
    to its smallest chargeable amount as :class:`~loket.money.Money` (written in major units,
    ``Money.parse("10000", "IDR")``; connect uses it instead of 1 unit).
    """

    kind: str
    display_name: str
    credential_schema: dict
    secret_fields: tuple[str, ...] = ()
    logo_url: str = ""
    currencies: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    minimum_charge: dict[str, Money] = attrs.field(factory=dict, converter=_minimums)
    zero_decimal_supported: bool = True
    mandates: bool = False
    """Whether the gateway stores mandates and charges them off-session (contract 1.2); a
    gateway saying ``True`` must implement the three ``loket_gateway_mandate_*`` hooks."""


@attrs.frozen
class GatewayConfig:
    """One tenant's configuration of one gateway, handed to every gateway hook.

    ``kind`` names the gateway; an implementation returns ``None`` when it is not its own.
    ``credentials`` are decrypted, for the plugin's use only. ``webhook_url`` is the
    unguessable URL loket receives this configuration's webhooks on; ``webhook_path`` its path
    (what DOKU signs as Request-Target). ``options`` carries deployment settings such as an
    emulator base URL (``api_base``). ``installation_id`` tells this loket installation
    apart from others sharing the gateway account (put it in idempotency keys).
    """

    id: int
    tenant_id: int
    kind: str
    credentials: dict = attrs.field(repr=False)  # decrypted secrets: never in a repr or log
    currency: str
    webhook_url: str = ""
    webhook_path: str = ""
    options: dict = attrs.field(factory=dict, converter=_frozen_dict)
    installation_id: str = ""


@attrs.frozen
class Customer:
    """The payer as the gateway may show it."""

    account_number: str
    name: str
    email: str | None = None
    phone: str | None = None


@attrs.frozen
class CheckoutItem:
    """One obligation in a checkout: a bill, service charge or installment."""

    kind: str
    reference: str
    description: str
    amount: Money
    period: str | None = None


@attrs.frozen
class CheckoutRequest:
    """What ``loket_gateway_charge`` must turn into a hosted checkout.

    ``payment_id`` is loket's public payment number and doubles as the gateway idempotency
    key: charging the same payment twice must not create a second checkout, so build every
    parameter from this request, never from the current time (``created_at``, when the
    payment was created, anchors durations such as "minutes until ``expires_at``"; 1.1).
    """

    payment_id: str
    amount: Money
    items: tuple[CheckoutItem, ...]
    customer: Customer
    return_url: str
    cancel_url: str
    expires_at: dt.datetime
    description: str = ""
    is_test: bool = False
    extra: dict = attrs.field(factory=dict, converter=_frozen_dict)
    created_at: dt.datetime | None = None


@attrs.frozen
class CheckoutSession:
    """A created hosted checkout: where to send the payer and the gateway's own reference."""

    redirect_url: str
    gateway_reference: str
    raw: dict = attrs.field(factory=dict, converter=_frozen_dict)


@attrs.frozen
class WebhookRequest:
    """A request received on a configuration's webhook URL, exactly as it arrived.

    ``headers`` keys are lower-case; ``body`` is the raw bytes (signatures cover them).
    """

    body: bytes
    headers: Mapping[str, str]
    path: str
    received_at: dt.datetime


@attrs.frozen
class GatewayEvent:
    """A normalized gateway event, from a webhook or a status poll.

    ``event_id`` is unique per configuration (the deduplication key); ``type`` is one of
    ``EVENT_TYPES``; ``payment_id`` is loket's payment number when the gateway echoes it;
    ``raw_status`` the gateway's own status word; ``failure_message``/``failure_code`` the
    gateway's own words, kept verbatim for the payer.
    """

    event_id: str
    type: str
    raw_status: str = ""
    payment_id: str | None = None
    gateway_reference: str | None = None
    amount: Money | None = None
    failure_message: str | None = None
    failure_code: str | None = None
    failure_category: str | None = None
    refund_reference: str | None = None
    payout_reference: str | None = None
    details: dict = attrs.field(factory=dict, converter=_frozen_dict)
    occurred_at: dt.datetime | None = None

    def __attrs_post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {self.type!r}; expected one of {EVENT_TYPES}")


@attrs.frozen
class StatusMapping:
    """A raw gateway status translated for loket and for people.

    ``internal`` is a loket payment state (or ``None`` for "no change"); ``webhook_status``
    and ``settlement_status`` are the words shown to staff ("In Settlement", "Settled"...).
    """

    internal: str | None
    webhook_status: str
    settlement_status: str


@attrs.frozen
class RefundRequest:
    """A refund to make through the gateway; ``refund_id`` is loket's idempotency key."""

    refund_id: str
    payment_id: str
    gateway_reference: str
    amount: Money
    captured: Money
    reason: str = "requested_by_customer"
    details: dict = attrs.field(factory=dict, converter=_frozen_dict)


@attrs.frozen
class RefundResult:
    """The gateway's answer to a refund: ``status`` is succeeded, pending or failed."""

    refund_reference: str
    status: str
    raw: dict = attrs.field(factory=dict, converter=_frozen_dict)


@attrs.frozen
class SettlementLine:
    """One payment in a gateway's settlement (payout or report row), for reconciliation."""

    gateway_reference: str
    amount: Money
    fee: Money
    net: Money
    settled_at: dt.datetime
    payment_id: str | None = None
    payout_reference: str | None = None
    raw: dict = attrs.field(factory=dict, converter=_frozen_dict)


# --- destinations -------------------------------------------------------------------


@attrs.frozen
class DestinationDescription:
    """A destination processor: its ``name`` and the JSON Schema of its target parameters.

    ``attribute_schemas`` (1.2) maps a receivable kind the processor reads to the JSON Schema
    of the typed attributes a receivable of that kind must carry (``{"dln": ...}``): the host
    may upsert receivables of that kind, and their attributes are validated and indexed.
    """

    name: str
    title: str
    target_schema: dict
    receivable_kinds: tuple[str, ...] = ()
    attribute_schemas: dict = attrs.field(factory=dict, converter=_frozen_dict)


@attrs.frozen
class Obligation:
    """Something an account owes: a bill, service charge or installment (minor units)."""

    receivable_id: int
    kind: str
    reference: str
    description: str
    amount_due: Money
    outstanding: Money
    period: str | None = None
    due_date: dt.date | None = None
    plan_reference: str | None = None


class LedgerReader(Protocol):
    """What destination hooks may read of the host's receivables (one tenant's).

    loket passes its own implementation; plugins only call these two methods.
    """

    def open_items(self, account_number: str, kind: str) -> list[Obligation]:
        """The open obligations of ``kind`` on ``account_number``, oldest first."""
        ...

    def find(self, kind: str, reference: str) -> tuple[Obligation, str, str] | None:
        """One obligation by reference: ``(obligation, account_number, status)`` or ``None``."""
        ...


@attrs.frozen
class DestinationTarget:
    """A request to pay a destination, after the routing table mapped its fields.

    ``params`` are the processor's parameters (e.g. ``{"reference": "INV-1"}``).
    """

    destination: str
    processor: str
    account_number: str
    params: dict = attrs.field(factory=dict, converter=_frozen_dict)


@attrs.frozen
class ResolvedTarget:
    """A validated target: the account and the open obligations the payment is for."""

    target: DestinationTarget
    account_number: str
    obligations: tuple[Obligation, ...]
    # 1.2: a target that does not exist yet (a tax form whose DLN the host has not sent):
    # no obligations, the amount the payer declares, and the key of the receivable that
    # will complete it (``"tax_form:dln=123"``); the payment is held until it arrives.
    hold_key: str | None = None
    declared_amount: Money | None = None

    @property
    def total(self) -> Money:
        """The total still outstanding on the obligations."""
        if not self.obligations and self.declared_amount is not None:
            return self.declared_amount
        currency = self.obligations[0].outstanding.currency
        return Money(sum(o.outstanding.amount for o in self.obligations), currency)


@attrs.frozen
class FeeRule:
    """A fee rule from the routing table for one payment method."""

    percent: str = "0"
    fixed: str = "0"
    pass_to: tuple[str, ...] = ()


@attrs.frozen
class Fee:
    """A fee for a payment: ``passed_on`` means the payer pays it on top of the amount."""

    amount: Money
    passed_on: bool
    description: str = ""


@attrs.frozen
class Prepared:
    """What ``loket_destination_prepare`` returns: the fee and extra data for the gateway."""

    fee: Fee
    extra: dict = attrs.field(factory=dict, converter=_frozen_dict)


@attrs.frozen
class Allocation:
    """Money applied to one obligation."""

    receivable_id: int
    amount: Money


# --- outbound -----------------------------------------------------------------------


@attrs.frozen
class Notification:
    """A message for a person: a consumer-facing status change or a staff alert.

    ``kind`` e.g. ``payment.succeeded``, ``gateway.handshake_failed``; ``recipients`` are
    e-mail addresses (or other channel addresses a notifier understands).
    """

    tenant_id: int
    kind: str
    subject: str
    body: str
    recipients: tuple[str, ...] = ()
    data: dict = attrs.field(factory=dict, converter=_frozen_dict)


@attrs.frozen
class TrackingEvent:
    """A behaviour-tracking event (``gateway.activated``, ``payment.searched``...)."""

    tenant_id: int | None
    name: str
    actor: str | None = None
    properties: dict = attrs.field(factory=dict, converter=_frozen_dict)
    at: dt.datetime | None = None


@attrs.frozen
class PaymentInfo:
    """A payment as outbound hooks see it."""

    tenant_id: int
    payment_id: str
    status: str
    amount: Money
    account_number: str | None
    gateway: str | None = None
    failure_message: str | None = None
    details: dict = attrs.field(factory=dict, converter=_frozen_dict)


@attrs.frozen
class PlanInfo:
    """A payment plan as outbound hooks see it."""

    tenant_id: int
    reference: str
    account_number: str
    missed_installments: int
    details: dict = attrs.field(factory=dict, converter=_frozen_dict)


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


# --- mandates (contract 1.2) ---------------------------------------------------------

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
    last4: str = ""
    exp_month: int | None = None
    exp_year: int | None = None


@attrs.frozen
class MandateSetupRequest:
    """What ``loket_gateway_mandate_setup`` turns into a page where the payer saves a
    payment method. ``mandate_id`` is loket's reference of the mandate and doubles as the
    idempotency key; the gateway must echo it in its mandate events."""

    mandate_id: str
    customer: Customer
    currency: str
    return_url: str
    cancel_url: str
    created_at: dt.datetime
    gateway_customer: str | None = None


@attrs.frozen
class MandateSetup:
    """Where to send the payer to set up a mandate, and the gateway's reference of it."""

    redirect_url: str
    gateway_reference: str
    raw: dict = attrs.field(factory=dict, converter=_frozen_dict)


@attrs.frozen
class MandateEvent:
    """A normalized mandate event from a webhook. ``event_id`` is unique per configuration;
    ``mandate_id`` is loket's reference when the gateway echoes it, ``gateway_reference``
    the gateway's own; ``token`` what to charge later (e.g. a Stripe PaymentMethod) and
    ``gateway_customer`` the gateway's customer holding it."""

    event_id: str
    type: MandateEventType
    mandate_id: str | None = None
    gateway_reference: str | None = None
    token: str | None = None
    gateway_customer: str | None = None
    method: PaymentMethodSummary = attrs.field(factory=PaymentMethodSummary)
    occurred_at: dt.datetime | None = None


@attrs.frozen
class MandateChargeRequest:
    """An off-session charge of a stored mandate. ``charge_id`` (payment number and attempt)
    is the gateway idempotency key: the same attempt charged twice takes money once."""

    charge_id: str
    payment_id: str
    amount: Money
    token: str
    gateway_customer: str | None
    description: str = ""
    attempt: int = 1


@attrs.frozen
class MandateChargeResult:
    """The gateway's answer to an off-session charge. A decline names its ``decline_code``
    (the gateway's own), its ``decline_kind`` and the gateway's message."""

    outcome: ChargeOutcome
    gateway_reference: str | None = None
    decline_code: str | None = None
    decline_kind: DeclineKind | None = None
    message: str | None = None
    raw: dict = attrs.field(factory=dict, converter=_frozen_dict)
