"""THE plugin contract of loket: every hook, with when it is called and what it returns.

Hooks are grouped by phase. Arguments are always passed by keyword, and an implementation may
accept fewer arguments than the spec declares, so a spec can grow without breaking plugins.

Gateway hooks receive the tenant's :class:`~loket.types.GatewayConfig`; an implementation
returns ``None`` when ``config.kind`` is not its own, and the first non-``None`` result wins
(``firstresult=True``). Destination hooks do the same with ``processor``.

A plugin declares the contract it was written for with a module attribute
``LOKET_CONTRACT = "1"``; loket refuses a plugin whose major version differs from
:data:`CONTRACT_VERSION`.

Every gateway hook is either **required** (a gateway plugin lacking it is reported broken at
load and not used) or **optional** (calling it on a gateway that lacks it raises
:class:`~loket.errors.NotSupported`, "not supported by this gateway", a 409 over the API).
:data:`GATEWAY_HOOKS` is the table the plugin manager checks; each hook's docstring says the
same in its first line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pluggy

from loket.money import Money
from loket.types import (
    Allocation,
    CheckoutRequest,
    CheckoutSession,
    DestinationDescription,
    DestinationTarget,
    FeeRule,
    GatewayConfig,
    GatewayDescription,
    GatewayEvent,
    LedgerReader,
    MandateChargeRequest,
    MandateChargeResult,
    MandateEvent,
    MandateSetup,
    MandateSetupRequest,
    Notification,
    Obligation,
    PaymentInfo,
    PlanInfo,
    Prepared,
    RefundRequest,
    RefundResult,
    ResolvedTarget,
    SettlementLine,
    StatusMapping,
    TrackingEvent,
    WebhookRequest,
)

CONTRACT_VERSION = "1.3"
"""Version of this contract. The major number changes when a hook changes incompatibly;
the minor number when something is added (1.1: the ``refund.failed`` event type and
``CheckoutRequest.created_at``; 1.2: the optional mandate hooks and the optional
notification-channel hooks ``loket_channel_describe`` and ``loket_channel_send``)."""

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

hookspec = pluggy.HookspecMarker("loket")


# --------------------------------------------------------------------------------------
# Registration: called once when the plugin manager starts
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# Gateway: credentials and connection
# --------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def loket_gateway_validate_credentials(
    config: GatewayConfig, credentials: dict[str, Any]
) -> dict[str, Any] | None:
    """Required. Check credentials a tenant admin entered: their format, then a live call.

    Called when credentials are saved and before the test transaction. Stops at the first
    non-``None`` result.

    :param config: the :class:`~loket.types.GatewayConfig` (its ``credentials`` are the old
        ones, possibly empty).
    :param credentials: the new credentials as entered (a dict of strings).
    :returns: the credentials to store (normalized), or ``None`` for another kind.
    :raises loket.errors.CredentialsRejected: with ``errors=[{field, message}]`` for format
        errors, or the gateway's own message when the live call refuses them.

    .. versionadded:: 1.0
    """


@hookspec(firstresult=True)
def loket_gateway_handshake(config: GatewayConfig) -> dict[str, Any] | None:
    """Required. Check that a connected configuration still works (the daily handshake).

    Called by the daily job for every connected configuration. Stops at the first
    non-``None`` result.

    :param config: the :class:`~loket.types.GatewayConfig`.
    :returns: a dict of facts to show the admin (e.g. account name), or ``None`` for
        another kind.
    :raises loket.errors.GatewayError: when the gateway refuses or cannot be reached.

    .. versionadded:: 1.0
    """


# --------------------------------------------------------------------------------------
# Gateway: payments
# --------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def loket_gateway_charge(
    config: GatewayConfig, request: CheckoutRequest
) -> CheckoutSession | None:
    """Required. Create a hosted checkout for a payment and say where to send the payer.

    Called by the engine once a payment is ``initiated`` (online checkout and the connect
    test transaction). Must be idempotent on ``request.payment_id``: a retried call returns
    the same checkout. Stops at the first non-``None`` result.

    :param config: the :class:`~loket.types.GatewayConfig`.
    :param request: a :class:`~loket.types.CheckoutRequest`.
    :returns: a :class:`~loket.types.CheckoutSession` with an absolute ``redirect_url``.
    :raises loket.errors.GatewayError: the payment then fails with the gateway's message.

    .. versionadded:: 1.0

    .. versionchanged:: 1.1
       ``request.created_at`` anchors durations on the payment's creation.
    """


@hookspec(firstresult=True)
def loket_gateway_parse_webhook(
    config: GatewayConfig, request: WebhookRequest
) -> Sequence[GatewayEvent] | None:
    """Required. Verify a webhook request and normalize what it says.

    Called for every request received on the configuration's webhook URL, after it was
    stored in the inbox. Stops at the first non-``None`` result.

    :param config: the :class:`~loket.types.GatewayConfig` the URL belongs to.
    :param request: a :class:`~loket.types.WebhookRequest` (raw body bytes and headers).
    :returns: a list of :class:`~loket.types.GatewayEvent` (an event loket need not act on
        has type ``ignored``), or ``None`` for another kind.
    :raises loket.errors.WebhookRejected: bad or missing signature, stale timestamp.

    .. versionadded:: 1.0

    .. versionchanged:: 1.1
       events may have type ``refund.failed``.
    """


@hookspec(firstresult=True)
def loket_gateway_map_status(config: GatewayConfig, raw_status: str) -> StatusMapping | None:
    """Required. Translate a raw gateway status into loket's state and the words shown to staff.

    Called when an event is applied and when payments are listed. Stops at the first
    non-``None`` result.

    :param config: the :class:`~loket.types.GatewayConfig`.
    :param raw_status: the gateway's status word (e.g. ``succeeded``, ``SUCCESS``).
    :returns: a :class:`~loket.types.StatusMapping`, or ``None`` for another kind.

    .. versionadded:: 1.0
    """


@hookspec(firstresult=True)
def loket_gateway_fetch_status(
    config: GatewayConfig, payment_id: str, gateway_reference: str | None
) -> GatewayEvent | None:
    """Required. Ask the gateway what became of a payment.

    Called by the timeout sweep before failing an ``initiated`` payment, and on demand by
    staff. Stops at the first non-``None`` result.

    :param config: the :class:`~loket.types.GatewayConfig`.
    :param payment_id: loket's payment number.
    :param gateway_reference: the reference the charge hook returned.
    :returns: a :class:`~loket.types.GatewayEvent` describing the current state (type
        ``payment.pending`` when nothing is decided yet).
    :raises loket.errors.GatewayError: when the gateway cannot answer.

    .. versionadded:: 1.0
    """


@hookspec(firstresult=True)
def loket_gateway_refund(config: GatewayConfig, request: RefundRequest) -> RefundResult | None:
    """Required. Return money to the payer through the gateway.

    Called by the engine for a staff refund and after a successful connect test payment.
    Must be idempotent on ``request.refund_id``. Stops at the first non-``None`` result.

    :param config: the :class:`~loket.types.GatewayConfig`.
    :param request: a :class:`~loket.types.RefundRequest`.
    :returns: a :class:`~loket.types.RefundResult`.
    :raises loket.errors.RefundNotPossible: more than was paid, or the channel cannot be
        refunded online (the engine then raises a to-do for a manual refund).

    .. versionadded:: 1.0
    """


@hookspec(firstresult=True)
def loket_gateway_fetch_settlements(
    config: GatewayConfig, since: dt.datetime, until: dt.datetime
) -> Sequence[SettlementLine] | None:
    """Optional. List what the gateway settled in a period, for reconciliation.

    Called by the reconciliation job and on demand. Stops at the first non-``None`` result.

    :param config: the :class:`~loket.types.GatewayConfig`.
    :param since: start (aware datetime, inclusive).
    :param until: end (aware datetime, exclusive).
    :returns: a list of :class:`~loket.types.SettlementLine` (possibly empty), or ``None``
        for another kind.

    Optional: on a gateway without it, loket answers "not supported by this gateway".

    .. versionadded:: 1.0
    """


@hookspec(firstresult=True)
def loket_gateway_parse_settlement_report(
    config: GatewayConfig, content: bytes, filename: str
) -> Iterable[SettlementLine] | None:
    """Optional. Read a settlement report file the gateway delivered (CSV/XLSX) into lines.

    Called when staff upload a report for reconciliation. Stops at the first non-``None``
    result.

    :param config: the :class:`~loket.types.GatewayConfig`.
    :param content: the file's bytes.
    :param filename: its name (the extension tells the format).
    :returns: the :class:`~loket.types.SettlementLine` values, or ``None`` for another kind:
        a list, or (streaming form, 1.3) any iterable such as a generator, which loket reads
        lazily, a block of lines at a time, so a million-line report never has to be held
        as a million objects. A :class:`~loket.errors.ValidationFailed` raised while the
        lines are read rolls the whole reconciliation back.
    :raises loket.errors.ValidationFailed: the file does not have the documented columns.

    Optional: on a gateway without it, loket answers "not supported by this gateway".

    .. versionadded:: 1.0
    """


# --------------------------------------------------------------------------------------
# Gateway: mandates (optional, contract 1.2)
# --------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def loket_gateway_mandate_setup(
    config: GatewayConfig, request: MandateSetupRequest
) -> MandateSetup | None:
    """Optional. Start setting up a mandate: a page where the payer saves a card or a debit
    authorisation for later charges without them.

    Called when a consumer asks for a mandate (``POST /v1/me/mandates``). Must be idempotent
    on ``request.mandate_id``. Stops at the first non-``None`` result. Optional: only
    gateways whose description says ``mandates=True`` implement it.

    .. versionadded:: 1.2

    :param config: the :class:`~loket.types.GatewayConfig`.
    :param request: a :class:`~loket.types.MandateSetupRequest`.
    :returns: a :class:`~loket.types.MandateSetup` with an absolute ``redirect_url``, or
        ``None`` for another kind.
    :raises loket.errors.GatewayError: the gateway refused or cannot be reached.
    """


@hookspec(firstresult=True)
def loket_gateway_parse_mandate_events(
    config: GatewayConfig, request: WebhookRequest
) -> list[MandateEvent] | None:
    """Optional. Read what a webhook request says about mandates (set up, revoked, expired, the card
    updated).

    Called for every request on the configuration's webhook URL after
    ``loket_gateway_parse_webhook`` verified it (that hook answers ``ignored`` for mandate
    events). Stops at the first non-``None`` result. Optional.

    .. versionadded:: 1.2

    :param config: the :class:`~loket.types.GatewayConfig` the URL belongs to.
    :param request: the :class:`~loket.types.WebhookRequest`.
    :returns: a list of :class:`~loket.types.MandateEvent` (empty when the request is about
        payments only), or ``None`` for another kind.
    :raises loket.errors.WebhookRejected: bad or missing signature.
    """


@hookspec(firstresult=True)
def loket_gateway_mandate_charge(
    config: GatewayConfig, request: MandateChargeRequest
) -> MandateChargeResult | None:
    """Optional. Charge a stored mandate without the payer (off-session).

    Called by the auto-pay job for each due attempt. Must be idempotent on
    ``request.charge_id``: the same attempt charged twice takes the money once. Stops at the
    first non-``None`` result. Optional.

    .. versionadded:: 1.2

    :param config: the :class:`~loket.types.GatewayConfig`.
    :param request: a :class:`~loket.types.MandateChargeRequest`.
    :returns: a :class:`~loket.types.MandateChargeResult`: ``succeeded``, ``pending`` (the
        payment webhook will tell), or ``declined`` with the gateway's decline code
        classified ``soft`` (loket tries again on the tenant's schedule) or ``hard`` (loket
        stops; e.g. the payer must authenticate, the card is stolen or closed). ``None`` for
        another kind.
    :raises loket.errors.GatewayError: the gateway could not be reached (loket counts it as
        a soft decline).
    """


@hookspec(firstresult=True)
def loket_gateway_mandate_revoke(
    config: GatewayConfig, gateway_reference: str, token: str | None
) -> bool | None:
    """Optional. Cancel a mandate at the gateway (detach the saved payment method).

    Called when a consumer or staff revoke a mandate. Revoking one already gone at the
    gateway is not an error. Stops at the first non-``None`` result. Optional.

    .. versionadded:: 1.2

    :param config: the :class:`~loket.types.GatewayConfig`.
    :param gateway_reference: the gateway's reference of the mandate (from the set-up).
    :param token: the stored payment method (``None`` when the set-up never completed).
    :returns: ``True``, or ``None`` for another kind.
    :raises loket.errors.GatewayError: the gateway cannot be reached (nothing is revoked).
    """


@hookspec(firstresult=True)
def loket_gateway_prepare_data(
    config: GatewayConfig, request: CheckoutRequest
) -> dict[str, Any] | None:
    """Optional. Gather the external payment data the vendor needs for this checkout
    (address, tax id and the like; OPC's "raw" element); a gateway that needs nothing
    simply does not implement it.

    Called once per online payment, after the destinations prepared it and before
    ``loket_gateway_charge``; loket stores the answer on the payment
    (``external_payment_data``), shows it in the payment's details and passes it to the
    charge in ``request.extra["external_payment_data"]``. Stops at the first non-``None``
    result.

    .. versionadded:: 1.2

    :param config: the :class:`~loket.types.GatewayConfig`.
    :param request: the :class:`~loket.types.CheckoutRequest` about to be charged.
    :returns: a JSON-ready dict of strings, or ``None`` for another kind (or nothing to add).
    """


# --------------------------------------------------------------------------------------
# Destinations: the OPC processor pattern
# --------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def loket_destination_retrieve_due(
    processor: str, ledger: LedgerReader, account_number: str
) -> Sequence[Obligation] | None:
    """List what an account owes for this destination (OPC "retrieve payments due").

    Called to pre-populate a payment form. Stops at the first non-``None`` result.

    :param processor: the processor name from the routing table (e.g. ``bill``).
    :param ledger: a :class:`~loket.types.LedgerReader` for reading receivables.
    :param account_number: the consumer's account number.
    :returns: a list of :class:`~loket.types.Obligation`, or ``None`` for another processor.

    .. versionadded:: 1.0
    """


@hookspec(firstresult=True)
def loket_destination_validate(
    processor: str, ledger: LedgerReader, target: DestinationTarget
) -> ResolvedTarget | None:
    """Resolve a destination target to an account and obligations (OPC VALIDATEONLY).

    Called before any money moves, for checkout, counter payments and validate-only calls.
    Stops at the first non-``None`` result.

    :param processor: the processor name.
    :param ledger: a :class:`~loket.types.LedgerReader`.
    :param target: a :class:`~loket.types.DestinationTarget` (params already mapped).
    :returns: a :class:`~loket.types.ResolvedTarget`, or ``None`` for another processor.
    :raises loket.errors.ValidationFailed: unknown reference, not this consumer's, already
        paid, cancelled — naming the field.

    .. versionadded:: 1.0
    """


@hookspec(firstresult=True)
def loket_destination_prepare(
    processor: str, resolved: ResolvedTarget, method: str, person_type: str,
    fee_rule: FeeRule | None,
) -> Prepared | None:
    """Work out the fee for the chosen method and extra data for the gateway (OPC PREPARE).

    Called after validate, before the gateway is charged. Stops at the first non-``None``
    result.

    :param processor: the processor name.
    :param resolved: the :class:`~loket.types.ResolvedTarget`.
    :param method: payment method (``card``, ``bank_transfer``, ``cash``...).
    :param person_type: the consumer's person type (``individual``, ``organization``...).
    :param fee_rule: the :class:`~loket.types.FeeRule` for the method, or ``None``.
    :returns: a :class:`~loket.types.Prepared`, or ``None`` for another processor.

    .. versionadded:: 1.0
    """


@hookspec(firstresult=True)
def loket_destination_apply(
    processor: str, ledger: LedgerReader, resolved: ResolvedTarget, amount: Money
) -> Sequence[Allocation] | None:
    """Decide how money is allocated to the obligations (OPC "process payment").

    Called when a payment succeeds (online) or is posted (counter), inside the engine's
    transaction; the engine writes the allocations and checks the money invariants.
    Stops at the first non-``None`` result.

    :param processor: the processor name.
    :param ledger: a :class:`~loket.types.LedgerReader` (fresh outstanding amounts).
    :param resolved: the :class:`~loket.types.ResolvedTarget`.
    :param amount: the :class:`~loket.money.Money` to allocate.
    :returns: a list of :class:`~loket.types.Allocation` whose sum is at most ``amount``;
        what is left over becomes a credit note. ``None`` for another processor.
    :raises Exception: any error leaves the payment taken and raises a to-do for staff.

    .. versionadded:: 1.0
    """


# --------------------------------------------------------------------------------------
# Outbound integration points: every implementation is called
# --------------------------------------------------------------------------------------


@hookspec
def loket_notify(notification: Notification) -> None:
    """Deliver a message to people (e-mail, SMS, app push).

    Called from the background worker for every consumer-facing payment status change and
    every staff alert. All implementations are called.

    :param notification: a :class:`~loket.types.Notification`.
    :returns: ignored.

    .. versionadded:: 1.0
    """


@hookspec
def loket_track(event: TrackingEvent) -> None:
    """Record a behaviour-tracking event (analytics).

    Called after the action it describes has been committed. All implementations are
    called; the built-in sink writes a row to the tracking table.

    :param event: a :class:`~loket.types.TrackingEvent`.
    :returns: ignored.

    .. versionadded:: 1.0
    """


@hookspec
def loket_track_many(events: Sequence[TrackingEvent]) -> None:
    """Optional beside :func:`loket_track`: record many tracking events at once.

    Called after an action that changed many things at once committed (a settlement report
    completing thousands of payments), with all their events in order. A sink that
    implements it gets the events only here, so it can write them together (the built-in
    sink: one transaction); sinks without it get each event through :func:`loket_track`.
    All implementations are called.

    :param events: the :class:`~loket.types.TrackingEvent` values, in order.
    :returns: ignored.

    .. versionadded:: 1.3
    """


@hookspec
def loket_payment_status_changed(
    payment: PaymentInfo, old_status: str | None, new_status: str
) -> None:
    """React to a payment changing state (e.g. post it to the host's ledger).

    Called after the transaction that changed the state commits. All implementations are
    called.

    :param payment: a :class:`~loket.types.PaymentInfo`.
    :param old_status: the previous loket state (``None`` for a new payment).
    :param new_status: the new loket state.
    :returns: ignored.

    .. versionadded:: 1.0
    """


@hookspec
def loket_plan_defaulted(plan: PlanInfo) -> None:
    """React to a payment plan defaulting (missed installments reached the limit).

    Called by the plan-compliance job, once per default. All implementations are called.

    :param plan: a :class:`~loket.types.PlanInfo`.
    :returns: ignored.

    .. versionadded:: 1.0
    """


# --------------------------------------------------------------------------------------
# Notification channels (contract 1.2, optional): e-mail, SMS, WhatsApp, log
# --------------------------------------------------------------------------------------


@hookspec
def loket_channel_describe() -> tuple[str, ...] | None:
    """Optional. Name the message channels this plugin sends on.

    .. versionadded:: 1.2

    Called at start-up. Optional: a plugin without channels does not implement it. Two
    plugins naming the same channel are refused at start-up.

    :returns: a tuple of channel names (``("sms", "whatsapp")``), or ``None``.
    """


@hookspec(firstresult=True)
def loket_channel_send(
    channel: str, recipient: str, message: Notification, options: Mapping[str, Any]
) -> str | None:
    """Optional. Send one message to one person on ``channel``.

    .. versionadded:: 1.2

    Called by the outbox worker for each pending delivery of a message (at least once: a
    retried delivery may call it again for the same message, so send idempotently where the
    provider allows). Stops at the first non-``None`` result.

    :param channel: the channel name (``email``, ``sms``, ``whatsapp``, ``log``).
    :param recipient: the address on that channel (an e-mail address, an E.164 number).
    :param message: a :class:`~loket.types.Notification` (subject, body, kind, data).
    :param options: the deployment's channel options (``LOKET_CHANNEL_OPTIONS``), a dict
        per channel name, plus ``var_dir``.
    :returns: the provider's reference for the message (a string), or ``None`` for a
        channel that is not this plugin's.
    :raises Exception: any error leaves the delivery pending; the worker retries it with
        backoff for three days.
    """
