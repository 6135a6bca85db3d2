"""Fetch status: what a Stripe payment is now, as one loket event.

Used by the timeout sweep (before failing an ``initiated`` payment) and by staff. A Checkout
Session (``cs_…``) is looked up with its PaymentIntent expanded; a bare PaymentIntent
(``pi_…``) directly. Event ids are ``poll:{reference}:{state}``, so polling twice yields the
same id and a state change a new one.
"""

from __future__ import annotations

import datetime as dt

from loket.plugin_api import (
    EVENT_EXPIRED,
    EVENT_FAILED,
    EVENT_PENDING,
    EVENT_SUCCEEDED,
    GatewayConfig,
    GatewayError,
    GatewayEvent,
)
from loket_stripe.api import StripeApi
from loket_stripe.currency import from_stripe
from loket_stripe.ownership import payment_id_of
from loket_stripe.webhooks import failure_of


def _event(reference: str, type_: str, raw: str, payment_id, amount, **extra) -> GatewayEvent:
    return GatewayEvent(event_id=f"poll:{reference}:{raw}", type=type_, raw_status=raw,
                        payment_id=payment_id, gateway_reference=reference, amount=amount,
                        occurred_at=dt.datetime.now(dt.UTC), **extra)


def _from_intent(reference: str, intent: dict, payment_id, amount, details) -> GatewayEvent:
    status = intent.get("status")
    details = {**details, "payment_intent": intent["id"], "intent_status": status}
    if status == "succeeded":
        received = from_stripe(intent.get("amount_received") or intent["amount"],
                               intent["currency"])
        return _event(reference, EVENT_SUCCEEDED, "succeeded", payment_id, received,
                      details=details)
    if status == "canceled" or (status == "requires_payment_method"
                                and intent.get("last_payment_error")):
        message, code, category = failure_of(intent)
        if status == "canceled" and not intent.get("last_payment_error"):
            message, code, category = "The payment was canceled.", "canceled", "abandoned"
        return _event(reference, EVENT_FAILED, "failed", payment_id, amount, details=details,
                      failure_message=message, failure_code=code, failure_category=category)
    return _event(reference, EVENT_PENDING, "pending", payment_id, amount, details=details)


def current_event(api: StripeApi, payment_id: str | None, reference: str | None,
                  config: GatewayConfig) -> GatewayEvent:
    """Ask Stripe about a payment and return its state as a GatewayEvent.

    An open session whose last card attempt was declined is still ``payment.pending`` (with
    Stripe's decline message and code): the payer may try another card until it expires.
    ``payment_id`` is the core's own (the reference was stored on that payment); without
    one, it is read from the object's metadata when that is ``config``'s.
    """
    if not reference:
        raise GatewayError(f"payment {payment_id} has no Stripe reference to look up")
    if reference.startswith("pi_"):
        intent = api.retrieve_intent(reference)
        amount = from_stripe(intent["amount"], intent["currency"])
        found = payment_id or payment_id_of(intent.get("metadata"), config)
        return _from_intent(reference, intent, found, amount, {})
    session = api.retrieve_session(reference)
    found = payment_id or payment_id_of(session.get("metadata"), config)
    amount = from_stripe(session["amount_total"], session["currency"])
    details = {"session": session["id"], "session_status": session.get("status"),
               "payment_status": session.get("payment_status")}
    intent = session.get("payment_intent")
    if session.get("status") == "expired":
        return _event(reference, EVENT_EXPIRED, "expired", found, amount, details=details,
                      failure_category="expired", failure_code="expired",
                      failure_message="The checkout expired before the payment was made.")
    if session.get("payment_status") == "paid":
        received = amount
        if isinstance(intent, dict):
            details["payment_intent"] = intent["id"]
        return _event(reference, EVENT_SUCCEEDED, "succeeded", found, received,
                      details=details)
    if isinstance(intent, dict) and session.get("status") == "complete":
        return _from_intent(reference, intent, found, amount, details)
    failure = {}
    if isinstance(intent, dict):
        details.update(payment_intent=intent["id"], intent_status=intent.get("status"))
        if intent.get("last_payment_error"):
            message, code, category = failure_of(intent)
            details["last_error"] = message
            failure = dict(failure_message=message, failure_code=code,
                           failure_category=category)
    return _event(reference, EVENT_PENDING, "pending", found, amount, details=details,
                  **failure)
