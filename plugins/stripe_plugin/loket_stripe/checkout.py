"""Turn a loket CheckoutRequest into Stripe Checkout Session parameters.

One line item per bill or service (its name and period), loket's payment id in
``client_reference_id``, ``metadata`` and ``payment_intent_data.metadata`` (so every event
about the payment, the charge and its payout can echo it), and ``expires_at`` inside
Stripe's window of 30 minutes to 24 hours after creation.
"""

from __future__ import annotations

import datetime as dt

from loket.plugin_api import CheckoutRequest, GatewayError, Money

from loket_stripe.currency import minimum_charge, to_stripe

PAYMENT_ID_KEY = "loket_payment_id"
MIN_LIFETIME = dt.timedelta(minutes=30)
MAX_LIFETIME = dt.timedelta(hours=24)
# Clamped expiry times are rounded to this step so that a retry a few seconds later sends the
# same parameters (Stripe refuses an idempotency key reused with different parameters).
_STEP = 600
_MARGIN = dt.timedelta(minutes=2)


def expires_at(wanted: dt.datetime, now: dt.datetime) -> int:
    """The ``expires_at`` to send: ``wanted``, moved into Stripe's 30 min - 24 h window.

    :param wanted: the payment's timeout (aware datetime).
    :param now: the current time (aware datetime).
    :returns: epoch seconds.
    """
    low = int((now + MIN_LIFETIME + _MARGIN).timestamp())
    high = int((now + MAX_LIFETIME - _MARGIN).timestamp())
    value = int(wanted.timestamp())
    if value < low:
        return low + (-low % _STEP)  # round up, stays above the minimum
    if value > high:
        return high - high % _STEP  # round down, stays below the maximum
    return value


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


def session_params(request: CheckoutRequest, now: dt.datetime) -> dict:
    """The full ``POST /v1/checkout/sessions`` parameters for ``request``.

    :raises GatewayError: amount below Stripe's minimum charge, or items that do not add up.
    """
    minimum = minimum_charge(request.amount.currency)
    if request.amount.amount < minimum:
        raise GatewayError(
            f"Stripe's minimum charge in {request.amount.currency} is "
            f"{Money(minimum, request.amount.currency)}; {request.amount} is below it",
            field="amount", gateway_code="amount_too_small")
    metadata = {PAYMENT_ID_KEY: request.payment_id,
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
        "expires_at": expires_at(request.expires_at, now),
    }
    if request.customer.email:
        params["customer_email"] = request.customer.email
    return params
