"""Gateway hooks: credentials, the daily handshake, payments, webhooks, status and
refunds (every one gets the tenant's configuration; ``None`` for another kind)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loket.hookspecs._marker import hookspec
from loket.types import (
    CheckoutRequest,
    CheckoutSession,
    GatewayConfig,
    GatewayEvent,
    RefundRequest,
    RefundResult,
    StatusMapping,
    WebhookRequest,
)


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

    Called by the daily job for every active, connected configuration. Stops at the first
    non-``None`` result.

    :param config: the :class:`~loket.types.GatewayConfig`.
    :returns: a dict of facts to show the admin (e.g. account name), or ``None`` for
        another kind.
    :raises loket.errors.GatewayError: when the gateway refuses or cannot be reached.

    .. versionadded:: 1.0
    """


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


@hookspec(firstresult=True)
def loket_gateway_parse_webhook(
    config: GatewayConfig, request: WebhookRequest
) -> Sequence[GatewayEvent] | None:
    """Required. Verify a webhook request and normalize what it says.

    Called for every request received on the configuration's webhook URL, after it was
    stored in the inbox. Stops at the first non-``None`` result.

    It may call the gateway: a gateway that authenticates callbacks with a fixed token
    (not a signature over the body) must fetch the object from the gateway and build the
    event from the gateway's record, refusing a callback that disagrees with it. What the
    answer to the gateway is, and so whether it retries, follows from what the hook raises:
    ``WebhookRejected`` -> 400 (never good: not retried); ``ValueError``, ``KeyError``,
    ``TypeError`` and similar on a malformed body -> 400; any other exception (the gateway
    unreachable, ``GatewayError``) -> 503, so the gateway delivers it again.

    :param config: the :class:`~loket.types.GatewayConfig` the URL belongs to.
    :param request: a :class:`~loket.types.WebhookRequest` (raw body bytes and headers).
    :returns: a list of :class:`~loket.types.GatewayEvent` (an event loket need not act on
        has type ``ignored``), or ``None`` for another kind.
    :raises loket.errors.WebhookRejected: bad or missing signature or token, stale
        timestamp, a body that disagrees with the gateway's record.

    .. versionadded:: 1.0

    .. versionchanged:: 1.1
       events may have type ``refund.failed``.

    .. versionchanged:: 1.3
       events may have the dispute types (``dispute.opened``, ``dispute.under_review``,
       ``dispute.won``, ``dispute.lost``, ``dispute.withdrawn``) naming the gateway's
       dispute in ``dispute_reference``; loket opens and closes its dispute objects from
       them.
    """


@hookspec(firstresult=True)
def loket_gateway_map_status(config: GatewayConfig, raw_status: str) -> StatusMapping | None:
    """Required. Translate a raw gateway status into the words shown to staff.

    Called when an event that changed a payment is applied (with the event's
    ``raw_status``). The event type decides what happens to the payment; the mapping names
    it: ``webhook_status`` is kept on the payment, ``settlement_status`` (a
    :class:`~loket.types.SettlementStatus` word) raises the payment's settlement status.
    Either may be ``(keep)`` (:data:`~loket.types.KEEP`). Stops at the first non-``None``
    result.

    :param config: the :class:`~loket.types.GatewayConfig`.
    :param raw_status: the gateway's status word (e.g. ``succeeded``, ``SUCCESS``).
    :returns: a :class:`~loket.types.StatusMapping`, or ``None`` for another kind.

    .. versionadded:: 1.0

    .. versionchanged:: 1.3
       settlement words are the :class:`~loket.types.SettlementStatus` enum (others are
       ignored, the kit refuses them); ``internal`` is not read.
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
    :raises loket.errors.GatewayError: when the gateway cannot answer (or its answer cannot
        be read): the timeout sweep then leaves the payment ``initiated`` and asks again on
        later sweeps, for up to a day, before it fails it with a to-do for staff.

    .. versionadded:: 1.0
    """


@hookspec(firstresult=True)
def loket_gateway_refund(config: GatewayConfig, request: RefundRequest) -> RefundResult | None:
    """Required. Return money to the payer through the gateway.

    Called by the engine for a staff refund and after a successful connect test payment.
    Must be idempotent on ``request.refund_id``. Stops at the first non-``None`` result.
    A ``succeeded`` result shows the payment refunded at once; a ``pending`` one waits for
    the gateway's ``payment.refunded`` (or ``refund.failed``) event, or for a status check;
    a ``failed`` one records the refusal and raises a to-do for a manual refund.

    :param config: the :class:`~loket.types.GatewayConfig`.
    :param request: a :class:`~loket.types.RefundRequest`.
    :returns: a :class:`~loket.types.RefundResult` (status a
        :class:`~loket.types.RefundStatus`).
    :raises loket.errors.RefundNotPossible: more than was paid, or the channel cannot be
        refunded online (the engine then raises a to-do for a manual refund).
    :raises loket.errors.GatewayError: the gateway cannot be reached (nothing recorded;
        staff may try again).

    .. versionadded:: 1.0

    .. versionchanged:: 1.3
       ``failed`` is a result the kit accepts; a ``pending`` refund no longer shows the
       payment refunded until the gateway confirms it.
    """
