"""Stripe webhooks: verify the ``Stripe-Signature`` and normalize events for loket.

Verification is the SDK's own (``stripe.Webhook.construct_event``, tolerance 300 s).
Normalization follows one rule per event type (``HANDLERS``); anything else is acknowledged
as ``ignored``. Event ids are Stripe's ``evt_…`` ids, except:

* a refund is keyed on the refund (``refund:re_…``), so ``charge.refunded`` and
  ``refund.created``/``refund.updated`` about the same refund collapse into one event;
* ``payout.paid`` yields one ``payment.settled`` per payment, ``{evt}:{payment}``.
"""

from __future__ import annotations

import datetime as dt
from typing import Callable

import stripe

from loket.plugin_api import (
    EVENT_EXPIRED, EVENT_FAILED, EVENT_IGNORED, EVENT_PENDING, EVENT_REFUNDED, EVENT_SETTLED,
    EVENT_SETTLEMENT_FAILED, EVENT_SUCCEEDED, GatewayConfig, GatewayEvent, WebhookRejected,
    WebhookRequest,
)

from loket_stripe.api import StripeApi
from loket_stripe.checkout import PAYMENT_ID_KEY
from loket_stripe.currency import from_stripe

TOLERANCE_SECONDS = 300
ApiFactory = Callable[[], StripeApi]


def verify(config: GatewayConfig, request: WebhookRequest) -> dict:
    """Check the signature and age of a webhook and return the Stripe event as a dict.

    :raises WebhookRejected: no/invalid signature, stale timestamp, or a body that is not a
        Stripe event.
    """
    header = request.headers.get("stripe-signature")
    if not header:
        raise WebhookRejected("missing Stripe-Signature header")
    secret = config.credentials.get("webhook_secret", "")
    try:
        event = stripe.Webhook.construct_event(request.body, header, secret,
                                               tolerance=TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError as exc:
        raise WebhookRejected(f"Stripe signature check failed: {exc.user_message or exc}") from None
    except ValueError as exc:
        raise WebhookRejected(f"webhook body is not a Stripe event: {exc}") from None
    body = event.to_dict(for_json=True)
    if not body.get("id") or not body.get("type") or "object" not in body.get("data", {}):
        raise WebhookRejected("webhook body is not a Stripe event")
    return body


def normalize(event: dict, api: ApiFactory) -> list[GatewayEvent]:
    """Translate one verified Stripe event into loket events.

    :param event: the event as a dict.
    :param api: returns a :class:`StripeApi` for follow-up calls (payout transactions).
    """
    handler = HANDLERS.get(event["type"])
    if handler is None:
        return [_ignored(event)]
    return handler(event, event["data"]["object"], api)


def _when(epoch) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc) if epoch else None


def _ignored(event: dict, raw_status: str = "") -> GatewayEvent:
    return GatewayEvent(event_id=event["id"], type=EVENT_IGNORED, raw_status=raw_status,
                        details={"stripe_event": event["type"]},
                        occurred_at=_when(event.get("created")))


def _payment_id(obj: dict) -> str | None:
    return (obj.get("metadata") or {}).get(PAYMENT_ID_KEY) or obj.get("client_reference_id")


def _id(value) -> str | None:
    return value.get("id") if isinstance(value, dict) else value


def _session_event(event: dict, session: dict, type_: str, raw: str, **extra) -> GatewayEvent:
    amount = session.get("amount_total")
    details = {"session": session["id"], "payment_status": session.get("payment_status")}
    if session.get("payment_intent"):
        details["payment_intent"] = _id(session["payment_intent"])
    return GatewayEvent(
        event_id=event["id"], type=type_, raw_status=raw, payment_id=_payment_id(session),
        gateway_reference=session["id"], occurred_at=_when(event.get("created")),
        amount=from_stripe(amount, session["currency"]) if amount is not None else None,
        details=details, **extra)


def _session_completed(event, session, api):
    if session.get("payment_status") in ("paid", "no_payment_required"):
        return [_session_event(event, session, EVENT_SUCCEEDED, "succeeded")]
    # Delayed methods (bank debits): completed now, money later (async_payment_*).
    return [_session_event(event, session, EVENT_PENDING, "pending")]


def _session_async_succeeded(event, session, api):
    return [_session_event(event, session, EVENT_SUCCEEDED, "succeeded")]


def _session_async_failed(event, session, api):
    return [_session_event(
        event, session, EVENT_FAILED, "failed", failure_category="declined",
        failure_code="async_payment_failed",
        failure_message="The payment could not be completed by the payment method.")]


def _session_expired(event, session, api):
    return [_session_event(event, session, EVENT_EXPIRED, "expired",
                           failure_category="expired", failure_code="expired",
                           failure_message="The checkout expired before the payment was made.")]


def _intent_succeeded(event, intent, api):
    charge = _id(intent.get("latest_charge"))
    return [GatewayEvent(
        event_id=event["id"], type=EVENT_SUCCEEDED, raw_status="succeeded",
        payment_id=_payment_id(intent), gateway_reference=intent["id"],
        amount=from_stripe(intent.get("amount_received") or intent["amount"],
                           intent["currency"]),
        details={"payment_intent": intent["id"], "charge": charge},
        occurred_at=_when(event.get("created")))]


def failure_of(intent: dict) -> tuple[str, str | None, str]:
    """Stripe's own failure message, its decline (or error) code, and loket's category."""
    error = intent.get("last_payment_error") or {}
    code = error.get("decline_code") or error.get("code")
    message = error.get("message") or "The payment failed."
    if code == "insufficient_funds":
        category = "insufficient_funds"
    elif error.get("type") == "card_error" or code:
        category = "declined"
    else:
        category = "technical"
    return message, code, category


def _intent_failed(event, intent, api):
    message, code, category = failure_of(intent)
    return [GatewayEvent(
        event_id=event["id"], type=EVENT_FAILED, raw_status="failed",
        payment_id=_payment_id(intent), gateway_reference=intent["id"],
        amount=from_stripe(intent["amount"], intent["currency"]),
        failure_message=message, failure_code=code, failure_category=category,
        details={"payment_intent": intent["id"]}, occurred_at=_when(event.get("created")))]


def refund_event(refund: dict, occurred_at: dt.datetime | None,
                 payment_id: str | None = None) -> GatewayEvent:
    """A ``payment.refunded`` event for one succeeded Stripe refund (keyed on the refund)."""
    return GatewayEvent(
        event_id=f"refund:{refund['id']}", type=EVENT_REFUNDED, raw_status="refunded",
        payment_id=(refund.get("metadata") or {}).get(PAYMENT_ID_KEY) or payment_id,
        gateway_reference=_id(refund.get("payment_intent")) or _id(refund.get("charge")),
        amount=from_stripe(refund["amount"], refund["currency"]),
        refund_reference=refund["id"], occurred_at=occurred_at,
        details={"charge": _id(refund.get("charge"))})


def _refund_changed(event, refund, api):
    if refund.get("status") == "succeeded":
        return [refund_event(refund, _when(event.get("created")))]
    return [_ignored(event)]


def _refund_failed(event, refund, api):
    # loket has no "refund failed" event type: acknowledged, with the facts kept for staff.
    ignored = _ignored(event)
    return [GatewayEvent(
        event_id=ignored.event_id, type=EVENT_IGNORED, raw_status="refund failed",
        payment_id=(refund.get("metadata") or {}).get(PAYMENT_ID_KEY),
        refund_reference=refund["id"], failure_code=refund.get("failure_reason"),
        details={"stripe_event": event["type"], "refund": refund["id"]},
        occurred_at=ignored.occurred_at)]


def _charge_refunded(event, charge, api):
    """One ``payment.refunded`` per succeeded refund of the charge, keyed on the refund.

    The event only carries the charge's cumulative ``amount_refunded``, not which refund it
    announces, so the charge's refunds are listed; keying each on its refund id makes this
    event, its re-deliveries and ``refund.created``/``refund.updated`` collapse into one
    loket event per refund.
    """
    when = _when(event.get("created"))
    refunds = api().charge_refunds(charge["id"])
    found = [refund_event(r, when, _payment_id(charge)) for r in refunds
             if r.get("status") == "succeeded"]
    return found or [_ignored(event)]


def settled_events(event_id: str, payout: dict, transactions) -> list[GatewayEvent]:
    """One ``payment.settled`` per charge in a payout, with Stripe's fee and net amount."""
    arrival = _when(payout.get("arrival_date"))
    out = []
    for txn in transactions:
        if txn.get("type") not in ("charge", "payment"):
            continue
        source = txn.get("source")
        charge = source if isinstance(source, dict) else {"id": source}
        currency = txn["currency"]
        created = _when(charge.get("created"))
        key = _payment_id(charge) or charge["id"]
        details = {"fee": from_stripe(txn["fee"], currency).amount,
                   "net": from_stripe(txn["net"], currency).amount,
                   "balance_transaction": txn["id"], "charge": charge["id"],
                   "arrival_date": arrival.isoformat() if arrival else None}
        if created and arrival:
            details["processing_days"] = max((arrival - created).days, 0)
        out.append(GatewayEvent(
            event_id=f"{event_id}:{key}", type=EVENT_SETTLED, raw_status="payout paid",
            payment_id=_payment_id(charge),
            gateway_reference=_id(charge.get("payment_intent")) or charge["id"],
            amount=from_stripe(txn["amount"], currency), payout_reference=payout["id"],
            details=details, occurred_at=arrival))
    return out


def _payout_paid(event, payout, api):
    return settled_events(event["id"], payout, api().payout_transactions(payout["id"])) or [
        _ignored(event, "payout paid")]


def _payout_failed(event, payout, api):
    return [GatewayEvent(
        event_id=event["id"], type=EVENT_SETTLEMENT_FAILED, raw_status="payout failed",
        payout_reference=payout["id"], amount=from_stripe(payout["amount"], payout["currency"]),
        failure_code=payout.get("failure_code"), failure_message=payout.get("failure_message"),
        failure_category="technical", occurred_at=_when(event.get("created")),
        details={"payout_status": payout.get("status")})]


def _payout_created(event, payout, api):
    return [_ignored(event, "payout created")]


HANDLERS = {
    "checkout.session.completed": _session_completed,
    "checkout.session.async_payment_succeeded": _session_async_succeeded,
    "checkout.session.async_payment_failed": _session_async_failed,
    "checkout.session.expired": _session_expired,
    "payment_intent.succeeded": _intent_succeeded,
    "payment_intent.payment_failed": _intent_failed,
    "charge.refunded": _charge_refunded,
    "refund.created": _refund_changed,
    "refund.updated": _refund_changed,
    "refund.failed": _refund_failed,
    "payout.created": _payout_created,
    "payout.paid": _payout_paid,
    "payout.failed": _payout_failed,
}

