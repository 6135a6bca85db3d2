"""Turn a loket CheckoutRequest into Stripe Checkout Session parameters.

One line item per bill or service (its name and period); loket's payment id, installation
id, tenant id and configuration id in ``metadata`` and ``payment_intent_data.metadata`` (so
every event about the payment, the charge, its refunds and its payout echoes them, and an
installation or tenant sharing the Stripe account with another can tell its own objects
apart, see :mod:`loket_stripe.ownership`); ``expires_at`` inside Stripe's window of 30
minutes to 24 hours after creation, derived from the payment's timeout alone so that a retry
sends the same parameters.
"""

from __future__ import annotations

import datetime as dt

from loket.plugin_api import CheckoutRequest, GatewayConfig, GatewayError, Money
from loket_stripe.currency import minimum_charge, to_stripe

PAYMENT_ID_KEY = "loket_payment_id"
TENANT_ID_KEY = "loket_tenant_id"
CONFIG_ID_KEY = "loket_config_id"
INSTALLATION_ID_KEY = "loket_installation_id"
# Stripe's window is 30 min to 24 h after creation; the margins absorb clock skew.
SHORTEST = dt.timedelta(minutes=32)
LONGEST = dt.timedelta(hours=23)


def expires_at(wanted: dt.datetime, now: dt.datetime) -> int | None:
    """The ``expires_at`` to send for a payment that times out at ``wanted``.

    The value depends on ``wanted`` alone (``now`` only picks the case), so a retry of the
    same charge sends the same parameters under the same idempotency key:

    * ``wanted`` between 32 minutes and 23 hours away: ``wanted`` itself;
    * sooner (Stripe's minimum is 30 minutes): ``wanted`` + 32 minutes, which is at least 30
      minutes after any moment before the payment times out;
    * later: ``None``, i.e. no ``expires_at`` and Stripe's default of 24 hours after creation.

    :param wanted: the payment's timeout (aware datetime).
    :param now: the current time (aware datetime).
    :returns: epoch seconds, or ``None`` to leave the parameter out.
    """
    remaining = wanted - now
    if remaining > LONGEST:
        return None
    if remaining < SHORTEST:
        return int((wanted + SHORTEST).timestamp())
    return int(wanted.timestamp())


def _line_item(name: str, description: str | None, amount: Money) -> dict:
    product = {"name": name[:250]}
    if description:
        product["description"] = description[:500]
    return {"quantity": 1, "price_data": {
        "currency": amount.currency.lower(), "unit_amount": to_stripe(amount),
        "product_data": product}}


def line_items(request: CheckoutRequest) -> list[dict]:
    """One line item per CheckoutItem, plus a "Fee" line for what the items do not cover.

    :raises GatewayError: when the items add up to more than the payment's amount.
    """
    currency = request.amount.currency
    out, total = [], 0
    for item in request.items:
        name = item.description or f"{item.kind} {item.reference}"
        details = " · ".join(p for p in (f"{item.kind.capitalize()} {item.reference}",
                                         f"Period {item.period}" if item.period else "") if p)
        out.append(_line_item(name, details, item.amount))
        total += item.amount.amount
    rest = request.amount.amount - total
    if rest < 0:
        raise GatewayError(f"the items add up to more than the payment ({request.amount})",
                           field="items")
    if rest and out:
        out.append(_line_item("Fee", "Processing fee", Money(rest, currency)))
    if not out:
        out.append(_line_item(request.description or f"Payment {request.payment_id}",
                              None, request.amount))
    if len(out) > 100:
        raise GatewayError("Stripe Checkout takes at most 100 items in one payment",
                           field="items")
    return out


def owner_metadata(config: GatewayConfig) -> dict:
    """The metadata that marks a Stripe object as this configuration's: its installation
    (when loket gives one; Stripe keeps no empty value), tenant and id."""
    marks = {TENANT_ID_KEY: str(config.tenant_id), CONFIG_ID_KEY: str(config.id)}
    installation = getattr(config, "installation_id", "") or ""
    if installation:
        marks[INSTALLATION_ID_KEY] = installation
    return marks


def loket_metadata(config: GatewayConfig, payment_id: str) -> dict:
    """The metadata that marks a Stripe object as this configuration's payment."""
    return {PAYMENT_ID_KEY: payment_id, **owner_metadata(config)}


def session_params(request: CheckoutRequest, now: dt.datetime, config: GatewayConfig) -> dict:
    """The full ``POST /v1/checkout/sessions`` parameters for ``request``.

    :param config: the configuration charging (its installation, tenant and id go into the
        metadata).

    :raises GatewayError: amount below Stripe's minimum charge, or items that do not add up.
    """
    minimum = minimum_charge(request.amount.currency)
    if request.amount.amount < minimum.amount:
        raise GatewayError(
            f"Stripe's minimum charge in {request.amount.currency} is "
            f"{minimum}; {request.amount} is below it",
            field="amount", gateway_code="amount_too_small")
    metadata = {**loket_metadata(config, request.payment_id),
                "loket_account": request.customer.account_number}
    if request.is_test:
        metadata["loket_test_payment"] = "true"
    intent_data = {"metadata": dict(metadata)}
    if request.description:
        intent_data["description"] = request.description[:1000]
    params = {
        "mode": "payment",
        "line_items": line_items(request),
        "client_reference_id": request.payment_id,
        "metadata": metadata,
        "payment_intent_data": intent_data,
        "success_url": request.return_url,
        "cancel_url": request.cancel_url,
    }
    expiry = expires_at(request.expires_at, now)
    if expiry is not None:
        params["expires_at"] = expiry
    if request.customer.email:
        params["customer_email"] = request.customer.email
    return params
