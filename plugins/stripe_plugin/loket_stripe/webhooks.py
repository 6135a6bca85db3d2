"""Stripe webhooks: verify the ``Stripe-Signature`` and normalize events for loket.

Verification is the SDK's own (``stripe.WebhookSignature.verify_header``, tolerance
300 s); the body is then read as plain JSON.
Normalization follows one rule per event type (``HANDLERS``); anything else is acknowledged
as ``ignored``. Event ids are Stripe's ``evt_…`` ids, except:

* a refund is keyed on the refund (``refund:re_…``), so ``charge.refunded`` and
  ``refund.created``/``refund.updated`` about the same refund collapse into one event;
* ``payout.paid`` / ``payout.failed`` yield one event per payment, ``{evt}:{payment}``;
* a failed refund is keyed ``refund-failed:re_…``.

``charge.dispute.created|updated|closed`` become the contract's dispute events (opened,
under review, won, lost; an inquiry closed without a chargeback is withdrawn), naming the
dispute (``dp_…``) in ``dispute_reference``; the dispute's payment is found through its
PaymentIntent's metadata.

Several loket installations and tenants may share one Stripe account, and Stripe sends every
event of the account to every endpoint, correctly signed. Only objects whose metadata
carries this installation's ``loket_installation_id`` (or none, when made before it was
set) and this configuration's ``loket_tenant_id`` and ``loket_config_id`` (set at charge
time on the session and its PaymentIntent, and copied by Stripe to the charge) name a loket
payment (see :mod:`loket_stripe.ownership`); another installation's or configuration's
objects are ``ignored``, and objects without loket metadata name no payment (only their
Stripe reference).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import stripe

from loket.plugin_api import (
    EVENT_DISPUTE_LOST,
    EVENT_DISPUTE_OPENED,
    EVENT_DISPUTE_UNDER_REVIEW,
    EVENT_DISPUTE_WITHDRAWN,
    EVENT_DISPUTE_WON,
    EVENT_EXPIRED,
    EVENT_FAILED,
    EVENT_IGNORED,
    EVENT_PENDING,
    EVENT_REFUND_FAILED,
    EVENT_REFUNDED,
    EVENT_SUCCEEDED,
    GatewayConfig,
    GatewayEvent,
    WebhookRejected,
    WebhookRequest,
)
from loket_stripe.api import StripeApi
from loket_stripe.currency import from_stripe
from loket_stripe.ownership import owner_of, payment_id_of, ref_id, when
from loket_stripe.payouts import settled_events, settlement_failed_events

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
        # The SDK's check of the signature and its age; the body is then read as plain JSON
        # (the SDK's ``construct_event`` builds a tree of StripeObjects only for it to be
        # turned back into dicts: ten times the cost of the check and the JSON together).
        stripe.WebhookSignature.verify_header(request.body, header, secret,
                                              tolerance=TOLERANCE_SECONDS)
        _not_from_the_future(header, request.received_at)
        body = json.loads(request.body)
    except stripe.SignatureVerificationError as exc:
        raise WebhookRejected(f"Stripe signature check failed: {exc.user_message or exc}") from None
    except ValueError as exc:
        raise WebhookRejected(f"webhook body is not a Stripe event: {exc}") from None
    data = body.get("data") if isinstance(body, dict) else None
    if (not isinstance(data, dict) or not isinstance(data.get("object"), dict)
            or not body.get("id") or not body.get("type")
            or body.get("object") == "v2.core.event"):
        raise WebhookRejected("webhook body is not a Stripe event")
    return body


def _not_from_the_future(header: str, received_at: dt.datetime) -> None:
    """Refuse a signature dated more than the tolerance after the request arrived (the SDK
    checks only that it is not too old).

    :raises WebhookRejected: naming both times.
    """
    stamps = [part.split("=", 1)[1] for part in header.split(",")
              if part.strip().startswith("t=")]
    try:
        signed = int(stamps[0])
    except (IndexError, ValueError):
        raise WebhookRejected("Stripe-Signature carries no timestamp") from None
    arrived = int(received_at.timestamp())
    if signed > arrived + TOLERANCE_SECONDS:
        raise WebhookRejected(f"Stripe-Signature is dated {signed - arrived} s after the "
                              f"request arrived (tolerance {TOLERANCE_SECONDS} s)")


def normalize(event: dict, config: GatewayConfig, api: ApiFactory) -> list[GatewayEvent]:
    """Translate one verified Stripe event into loket events for ``config``.

    :param event: the event as a dict.
    :param config: the configuration the webhook arrived for (its tenant and id decide which
        Stripe objects are its own).
    :param api: returns a :class:`StripeApi` for follow-up calls (refunds, PaymentIntents,
        payout transactions).
    """
    handler = HANDLERS.get(event["type"])
    if handler is None:
        return [_ignored(event)]
    if event["data"]["object"].get("mode") == "setup":  # a saved card: a mandate event
        return [_ignored(event, reason="mandate set-up")]
    return handler(Context(event, config, api), event["data"]["object"])


class Context:
    """One event being normalized: the Stripe event, the configuration and the API."""

    def __init__(self, event: dict, config: GatewayConfig, api: ApiFactory):
        self.event = event
        self.config = config
        self.api = api
        self.id = event["id"]
        self.when = when(event.get("created"))

    def owner(self, metadata: dict | None) -> str:
        """``"ours"``, ``"theirs"`` (another loket installation or configuration) or
        ``"unknown"``."""
        return owner_of(metadata, self.config)

    def ignored(self, raw_status: str = "", **details) -> GatewayEvent:
        """This event acknowledged and ignored."""
        return _ignored(self.event, raw_status, **details)

    def not_ours(self) -> list[GatewayEvent]:
        """The answer for an object of another loket installation or configuration on the
        same account."""
        return [self.ignored(reason="another loket configuration's payment")]


def _ignored(event: dict, raw_status: str = "", **details) -> GatewayEvent:
    return GatewayEvent(event_id=event["id"], type=EVENT_IGNORED, raw_status=raw_status,
                        details={"stripe_event": event["type"], **details},
                        occurred_at=when(event.get("created")))


def _intent_metadata(ctx: Context, obj: dict) -> dict:
    """The metadata that says whose ``obj`` is: its own when it carries loket ids, else its
    PaymentIntent's (a refund made in the Stripe Dashboard has no loket metadata)."""
    metadata = obj.get("metadata") or {}
    if ctx.owner(metadata) != "unknown":
        return metadata
    intent = obj.get("payment_intent")
    if isinstance(intent, dict):
        return intent.get("metadata") or {}
    if intent:
        return ctx.api().retrieve_intent(intent).get("metadata") or {}
    return metadata


# -- checkout sessions and payment intents --------------------------------------------------

def _session_event(ctx: Context, session: dict, type_: str, raw: str,
                   **extra) -> list[GatewayEvent]:
    metadata = session.get("metadata")
    if ctx.owner(metadata) == "theirs":
        return ctx.not_ours()
    amount = session.get("amount_total")
    details = {"session": session["id"], "payment_status": session.get("payment_status")}
    if session.get("payment_intent"):
        details["payment_intent"] = ref_id(session["payment_intent"])
    return [GatewayEvent(
        event_id=ctx.id, type=type_, raw_status=raw,
        payment_id=payment_id_of(metadata, ctx.config),
        gateway_reference=session["id"], occurred_at=ctx.when,
        amount=from_stripe(amount, session["currency"]) if amount is not None else None,
        details=details, **extra)]


def _session_completed(ctx, session):
    if session.get("payment_status") in ("paid", "no_payment_required"):
        return _session_event(ctx, session, EVENT_SUCCEEDED, "succeeded")
    # Delayed methods (bank debits): completed now, money later (async_payment_*).
    return _session_event(ctx, session, EVENT_PENDING, "pending")


def _session_async_succeeded(ctx, session):
    return _session_event(ctx, session, EVENT_SUCCEEDED, "succeeded")


def _session_async_failed(ctx, session):
    # The checkout is over: the delayed payment method failed after the session completed.
    return _session_event(
        ctx, session, EVENT_FAILED, "failed", failure_category="declined",
        failure_code="async_payment_failed",
        failure_message="The payment could not be completed by the payment method.")


def _session_expired(ctx, session):
    return _session_event(ctx, session, EVENT_EXPIRED, "expired",
                          failure_category="expired", failure_code="expired",
                          failure_message="The checkout expired before the payment was made.")


def _intent_succeeded(ctx, intent):
    metadata = intent.get("metadata")
    if ctx.owner(metadata) == "theirs":
        return ctx.not_ours()
    charge = ref_id(intent.get("latest_charge"))
    return [GatewayEvent(
        event_id=ctx.id, type=EVENT_SUCCEEDED, raw_status="succeeded",
        payment_id=payment_id_of(metadata, ctx.config), gateway_reference=intent["id"],
        amount=from_stripe(intent.get("amount_received") or intent["amount"],
                           intent["currency"]),
        details={"payment_intent": intent["id"], "charge": charge}, occurred_at=ctx.when)]


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


def _intent_failed(ctx, intent):
    """A declined attempt. In Checkout the session stays open and the payer may try again
    until it expires (``checkout.session.expired``) or a delayed method fails for good
    (``checkout.session.async_payment_failed``), so this is ``payment.pending`` carrying
    Stripe's message and decline code verbatim for the payer."""
    metadata = intent.get("metadata")
    if ctx.owner(metadata) == "theirs":
        return ctx.not_ours()
    message, code, category = failure_of(intent)
    return [GatewayEvent(
        event_id=ctx.id, type=EVENT_PENDING, raw_status="pending",
        payment_id=payment_id_of(metadata, ctx.config), gateway_reference=intent["id"],
        amount=from_stripe(intent["amount"], intent["currency"]),
        failure_message=message, failure_code=code, failure_category=category,
        details={"payment_intent": intent["id"], "intent_status": intent.get("status")},
        occurred_at=ctx.when)]


# -- refunds ------------------------------------------------------------------------------

def _refund_reference(refund: dict) -> str | None:
    return ref_id(refund.get("payment_intent")) or ref_id(refund.get("charge"))


def refund_event(refund: dict, occurred_at: dt.datetime | None,
                 payment_id: str | None = None) -> GatewayEvent:
    """A ``payment.refunded`` event for one succeeded Stripe refund (keyed on the refund)."""
    return GatewayEvent(
        event_id=f"refund:{refund['id']}", type=EVENT_REFUNDED, raw_status="refunded",
        payment_id=payment_id,
        gateway_reference=_refund_reference(refund),
        amount=from_stripe(refund["amount"], refund["currency"]),
        refund_reference=refund["id"], occurred_at=occurred_at,
        details={"charge": ref_id(refund.get("charge"))})


def refund_failed_event(refund: dict, occurred_at: dt.datetime | None,
                        payment_id: str | None = None) -> GatewayEvent:
    """A ``refund.failed`` event for a Stripe refund that failed or was canceled after it was
    created (keyed on the refund, so ``refund.failed`` and ``refund.updated`` collapse)."""
    reason = refund.get("failure_reason") or refund.get("status")
    return GatewayEvent(
        event_id=f"refund-failed:{refund['id']}", type=EVENT_REFUND_FAILED,
        raw_status="refund failed", payment_id=payment_id,
        gateway_reference=_refund_reference(refund),
        amount=from_stripe(refund["amount"], refund["currency"]),
        refund_reference=refund["id"], failure_code=reason,
        failure_message=f"Stripe could not complete the refund ({reason}).",
        failure_category="technical", occurred_at=occurred_at,
        details={"charge": ref_id(refund.get("charge")),
                 "refund_status": refund.get("status")})


def _refund_changed(ctx, refund):
    status = refund.get("status")
    if status not in ("succeeded", "failed", "canceled"):
        return [ctx.ignored(refund_status=status)]
    metadata = _intent_metadata(ctx, refund)
    if ctx.owner(metadata) == "theirs":
        return ctx.not_ours()
    payment_id = payment_id_of(metadata, ctx.config)
    if status == "succeeded":
        return [refund_event(refund, ctx.when, payment_id)]
    return [refund_failed_event(refund, ctx.when, payment_id)]


def _charge_refunded(ctx, charge):
    """One ``payment.refunded`` per succeeded refund of the charge, keyed on the refund.

    The event only carries the charge's cumulative ``amount_refunded``, not which refund it
    announces, so the charge's refunds are listed; keying each on its refund id makes this
    event, its re-deliveries and ``refund.created``/``refund.updated`` collapse into one
    loket event per refund.
    """
    metadata = _intent_metadata(ctx, charge)
    if ctx.owner(metadata) == "theirs":
        return ctx.not_ours()
    payment_id = payment_id_of(metadata, ctx.config)
    refunds = ctx.api().charge_refunds(charge["id"])
    found = [refund_event(r, ctx.when, payment_id) for r in refunds
             if r.get("status") == "succeeded"]
    return found or [ctx.ignored()]


# -- disputes -----------------------------------------------------------------------------

CLOSED_DISPUTES = {"won": EVENT_DISPUTE_WON, "lost": EVENT_DISPUTE_LOST,
                   "warning_closed": EVENT_DISPUTE_WITHDRAWN}
OPEN_DISPUTES = {"needs_response": EVENT_DISPUTE_OPENED,
                 "warning_needs_response": EVENT_DISPUTE_OPENED,
                 "under_review": EVENT_DISPUTE_UNDER_REVIEW,
                 "warning_under_review": EVENT_DISPUTE_UNDER_REVIEW}


def _dispute_changed(ctx, dispute):
    """A dispute opened, moved or closed: one dispute event named by the dispute's id."""
    status = dispute.get("status") or ""
    type_ = CLOSED_DISPUTES.get(status) or OPEN_DISPUTES.get(status)
    if type_ is None:
        return [ctx.ignored(status, dispute_status=status)]
    metadata = _intent_metadata(ctx, dispute)
    if ctx.owner(metadata) == "theirs":
        return ctx.not_ours()
    return [GatewayEvent(
        event_id=ctx.id, type=type_, raw_status=status,
        payment_id=payment_id_of(metadata, ctx.config),
        gateway_reference=ref_id(dispute.get("payment_intent")) or ref_id(dispute.get("charge")),
        amount=from_stripe(dispute["amount"], dispute["currency"]),
        dispute_reference=dispute["id"], occurred_at=ctx.when,
        details={"reason": dispute.get("reason"), "charge": ref_id(dispute.get("charge"))})]


# -- payouts ------------------------------------------------------------------------------

def _payout_paid(ctx, payout):
    return settled_events(ctx.id, payout, ctx.api().payout_transactions(payout["id"]),
                          ctx.config, ctx.api) or [ctx.ignored("payout paid")]


def _payout_failed(ctx, payout):
    return settlement_failed_events(
        ctx.id, payout, ctx.api().payout_transactions(payout["id"]), ctx.config, ctx.api,
        ctx.when) or ctx.not_ours()


def _payout_created(ctx, payout):
    return [ctx.ignored("payout created")]


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
    "refund.failed": _refund_changed,
    "charge.dispute.created": _dispute_changed,
    "charge.dispute.updated": _dispute_changed,
    "charge.dispute.closed": _dispute_changed,
    "payout.created": _payout_created,
    "payout.paid": _payout_paid,
    "payout.failed": _payout_failed,
}
