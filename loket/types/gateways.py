"""Value types of the gateway hooks: descriptions, configurations, checkouts, events, refunds
and settlements (frozen attrs classes; amounts are :class:`~loket.money.Money`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs

from loket.money import Money
from loket.types._fields import frozen_dict
from loket.types.states import EVENT_TYPES, KEEP


def _minimums(value: Mapping[str, Money] | None) -> dict[str, Money]:
    minimums = dict(value or {})
    for currency, minimum in minimums.items():
        if not isinstance(minimum, Money) or minimum.currency != currency:
            raise TypeError(f"minimum_charge[{currency!r}] must be Money in {currency}, e.g. "
                            f"Money.parse('10000', {currency!r}), not {minimum!r}")
    return minimums


@attrs.frozen
class GatewayDescription:
    """What a gateway plugin offers: returned by ``loket_gateway_describe``."""

    kind: str
    """Unique name of the gateway (``stripe``, ``doku``); tenants' configurations carry it."""
    display_name: str
    """Name shown to tenant admins."""
    credential_schema: dict[str, Any]
    """JSON Schema (draft 2020-12, ``type: object``) of the credentials form."""
    secret_fields: tuple[str, ...] = ()
    """Credential fields encrypted at rest and masked in every output."""
    logo_url: str = ""
    """Logo shown beside the name (optional)."""
    currencies: tuple[str, ...] = ()
    """ISO 4217 codes the gateway charges in (empty: any)."""
    methods: tuple[str, ...] = ()
    """Payment methods offered (``card``, ``va``, ``qris``...), shown to admins; a checkout
    must use one of them (a payer who chooses none gets ``card``, or the first of these when
    the gateway offers no card). Empty: any method."""
    statuses: tuple[str, ...] = ()
    """Every raw status word the gateway may report; the kit checks each one maps."""
    minimum_charge: dict[str, Money] = attrs.field(factory=dict, converter=_minimums)
    """Smallest chargeable amount per currency, written in major units
    (``Money.parse("10000", "IDR")``); the connect test charges it instead of one unit, and
    loket refuses a checkout below it (422) before the gateway is asked."""
    zero_decimal_supported: bool = True
    """Whether the gateway charges zero-decimal currencies (JPY, KRW); informational."""
    mandates: bool = False
    """Whether the gateway stores mandates and charges them off-session; ``True`` requires
    the four ``loket_gateway_mandate_*`` hooks (1.2)."""


@attrs.frozen
class GatewayConfig:
    """One tenant's configuration of one gateway, handed to every gateway hook."""

    id: int
    """loket's id of the configuration."""
    tenant_id: int
    """The tenant it belongs to."""
    kind: str
    """The gateway kind; a hook returns ``None`` when it is not its own."""
    credentials: dict[str, Any] = attrs.field(repr=False)
    """Decrypted credentials, for the plugin's use only (never in a repr or a log)."""
    currency: str
    """The configuration's currency (ISO 4217)."""
    webhook_url: str = ""
    """The unguessable absolute URL loket receives this configuration's webhooks on."""
    webhook_path: str = ""
    """loket's route for it (``/v1/webhooks/{kind}/{token}``); behind a base URL with a path
    (``https://host/loket``) the path a gateway signs (DOKU's Request-Target) is the path of
    :attr:`webhook_url`, which starts with that base path."""
    options: dict[str, Any] = attrs.field(factory=dict, converter=frozen_dict)
    """Deployment settings for this kind, e.g. an emulator's ``api_base``."""
    installation_id: str = ""
    """Tells this loket installation apart from others sharing the gateway account (put it
    in idempotency keys)."""


@attrs.frozen
class Customer:
    """The payer as the gateway may show it."""

    account_number: str
    """The payer's account number at the tenant."""
    name: str
    """The payer's name."""
    email: str | None = None
    """E-mail address, when known."""
    phone: str | None = None
    """Phone number (E.164), when known."""


@attrs.frozen
class CheckoutItem:
    """One obligation in a checkout: a bill, service charge or installment."""

    kind: str
    """Receivable kind (``bill``, ``service``, ``installment``...)."""
    reference: str
    """The host's reference of the obligation (an invoice number)."""
    description: str
    """Line text for the hosted page."""
    amount: Money
    """Amount paid on this obligation."""
    period: str | None = None
    """Billing period (``2024-05``), when it has one."""


@attrs.frozen
class CheckoutRequest:
    """What ``loket_gateway_charge`` must turn into a hosted checkout. Build every parameter
    from this request, never from the current time: a retried charge must send the same."""

    payment_id: str
    """loket's public payment number; doubles as the gateway idempotency key."""
    amount: Money
    """The amount to charge (the items plus a fee passed on to the payer)."""
    items: tuple[CheckoutItem, ...]
    """The obligations paid."""
    customer: Customer
    """The payer."""
    return_url: str
    """Where the gateway sends the payer after paying."""
    cancel_url: str
    """Where the gateway sends a payer who cancels."""
    expires_at: dt.datetime
    """When the checkout must stop accepting payment (aware datetime)."""
    description: str = ""
    """Text for the hosted page and the payer's statement."""
    is_test: bool = False
    """The connect test transaction (refunded at once)."""
    extra: dict[str, Any] = attrs.field(factory=dict, converter=frozen_dict)
    """Data from the destinations' prepare step and ``external_payment_data`` (1.2)."""
    created_at: dt.datetime | None = None
    """When the payment was created: anchors durations such as minutes until
    ``expires_at`` (1.1)."""


@attrs.frozen
class CheckoutSession:
    """A created hosted checkout: where to send the payer and the gateway's own reference."""

    redirect_url: str
    """Absolute http(s) URL of the hosted page."""
    gateway_reference: str
    """The gateway's id of the checkout (or payment)."""
    raw: dict[str, Any] = attrs.field(factory=dict, converter=frozen_dict)
    """Anything the plugin wants kept with the payment (JSON-ready)."""


@attrs.frozen
class WebhookRequest:
    """A request received on a configuration's webhook URL, exactly as it arrived."""

    body: bytes
    """The raw body bytes (signatures cover them)."""
    headers: Mapping[str, str]
    """Request headers, keys lower-case."""
    path: str
    """The request path."""
    received_at: dt.datetime
    """When loket received it (aware)."""


@attrs.frozen
class GatewayEvent:
    """A normalized gateway event, from a webhook or a status poll."""

    event_id: str
    """Unique per configuration: loket's de-duplication key (the gateway's event id)."""
    type: str
    """One of :class:`~loket.types.EventType`."""
    raw_status: str = ""
    """The gateway's own status word (given to ``loket_gateway_map_status``)."""
    payment_id: str | None = None
    """loket's payment number, when the gateway echoes it."""
    gateway_reference: str | None = None
    """The gateway's id of the payment."""
    amount: Money | None = None
    """The amount the event is about (taken, refunded, settled)."""
    failure_message: str | None = None
    """The gateway's own words, verbatim (shown to the payer)."""
    failure_code: str | None = None
    """The gateway's failure code."""
    failure_category: str | None = None
    """One of :data:`~loket.types.FAILURE_CATEGORIES`."""
    refund_reference: str | None = None
    """The gateway's refund id (``payment.refunded``, ``refund.failed``)."""
    payout_reference: str | None = None
    """The gateway's payout id (``payment.settled``, ``settlement.failed``)."""
    details: dict[str, Any] = attrs.field(factory=dict, converter=frozen_dict)
    """Facts kept on the payment (JSON-ready; ``fee``/``net`` in minor units when settled)."""
    occurred_at: dt.datetime | None = None
    """When it happened at the gateway (default: when loket applied it)."""
    dispute_reference: str | None = None
    """The gateway's id of the dispute a ``dispute.*`` event is about (its ``amount`` is the
    disputed amount, ``details["reason"]`` the gateway's reason word).

    .. versionadded:: 1.3"""

    def __attrs_post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {self.type!r}; expected one of {EVENT_TYPES}")


@attrs.frozen
class StatusMapping:
    """A raw gateway status translated into the words staff see on a payment.

    The event type decides what happens to the payment; the mapping only names it.
    """

    internal: str | None = None
    """The loket state the raw status means (a :class:`~loket.types.PaymentStatus`, or
    ``None``); loket does not act on it, the conformance kit checks it agrees with the events.

    .. deprecated:: 1.3
       leave it ``None`` in new plugins; it goes in contract 2."""
    webhook_status: str = KEEP
    """Words shown to staff for the gateway's status (``In Settlement``), or ``(keep)``."""
    settlement_status: str = KEEP
    """A :class:`~loket.types.SettlementStatus` word, or ``(keep)`` (1.3: the kit refuses
    other words; loket ignores them)."""


@attrs.frozen
class RefundRequest:
    """A refund to make through the gateway."""

    refund_id: str
    """loket's refund number: the gateway idempotency key."""
    payment_id: str
    """loket's payment number."""
    gateway_reference: str
    """The gateway's id of the payment."""
    amount: Money
    """The amount to give back."""
    captured: Money
    """What the payment took (refunds never exceed it)."""
    reason: str = "requested_by_customer"
    """Why (the gateway's reason word where it has one)."""
    details: dict[str, Any] = attrs.field(factory=dict, converter=frozen_dict)
    """The payment's gateway details (what the events kept)."""


@attrs.frozen
class RefundResult:
    """The gateway's answer to a refund."""

    refund_reference: str
    """The gateway's refund id (its ``payment.refunded`` event must carry the same)."""
    status: str
    """A :class:`~loket.types.RefundStatus`: ``succeeded``, ``pending`` (an event follows)
    or ``failed`` (refused at once)."""
    raw: dict[str, Any] = attrs.field(factory=dict, converter=frozen_dict)
    """The gateway's answer, kept with the refund (JSON-ready)."""


@attrs.frozen
class SettlementLine:
    """One payment in a gateway's settlement (payout or report row), for reconciliation."""

    gateway_reference: str
    """The gateway's id of the payment."""
    amount: Money
    """What the payment took."""
    fee: Money
    """The gateway's fee."""
    net: Money
    """What reaches the tenant (``amount - fee``)."""
    settled_at: dt.datetime
    """When it was paid out (aware)."""
    payment_id: str | None = None
    """loket's payment number, when the gateway echoes it."""
    payout_reference: str | None = None
    """The payout (bank transfer) it was part of."""
    raw: dict[str, Any] = attrs.field(factory=dict, converter=frozen_dict)
    """The row as the gateway gave it (JSON-ready)."""
