"""Optional gateway hooks of stored mandates (auto-pay; contract 1.2)."""

from __future__ import annotations

from loket.hookspecs._marker import hookspec
from loket.types import (
    GatewayConfig,
    MandateChargeRequest,
    MandateChargeResult,
    MandateEvent,
    MandateSetup,
    MandateSetupRequest,
    WebhookRequest,
)


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
    :raises loket.errors.GatewayError: the gateway did not answer, or not with a decline
        (a timeout, an error of its own): the card may have been charged, so loket asks again
        with the same ``charge_id`` on later runs and, after 20 hours, leaves the charge to
        staff. An error whose ``category`` is ``declined`` or ``insufficient_funds`` says the
        gateway refused: loket counts it as a soft decline. Return a ``declined`` result for
        any answer that certainly charged nothing.
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
