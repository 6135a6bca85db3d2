"""Saved cards for auto-pay (loket contract 1.2): Checkout in ``setup`` mode, the SetupIntent's
PaymentMethod attached to a Customer, and off-session PaymentIntents.

* Set-up: a Customer per payer (reused when loket already knows it), then a Checkout Session
  with ``mode=setup``, ``currency`` and ``customer``; loket's mandate id, installation, tenant
  and configuration in the Customer's, the session's and the SetupIntent's metadata; the
  installation and tenant in every idempotency key (:func:`~loket_stripe.ownership.
  key_prefix`), as mandate and charge numbers restart in each installation.
* Events: ``checkout.session.completed`` of a setup session -> the mandate is active (its
  SetupIntent's PaymentMethod is the token, the card shown masked);
  ``checkout.session.expired`` of one -> the set-up failed; ``payment_method.detached`` ->
  revoked; ``payment_method.automatically_updated`` -> the card changed.
* Charges: ``POST /v1/payment_intents`` with ``confirm=true`` and ``off_session=true``,
  idempotent on loket's charge id. A decline is classified by its decline code: the payer
  must act (``authentication_required``: they get a link instead), the card is gone or
  untrustworthy -> *hard*; anything else (insufficient funds, a generic decline, an issuer
  that is unavailable) -> *soft*, tried again later.
"""

from __future__ import annotations

import stripe

from loket.plugin_api import (
    ChargeOutcome,
    DeclineKind,
    GatewayConfig,
    GatewayError,
    MandateChargeRequest,
    MandateChargeResult,
    MandateEvent,
    MandateEventType,
    MandateSetup,
    MandateSetupRequest,
    PaymentMethodSummary,
)
from loket_stripe.api import StripeApi, gateway_error
from loket_stripe.checkout import loket_metadata, owner_metadata
from loket_stripe.currency import to_stripe
from loket_stripe.ownership import key_prefix, owner_of, ref_id, when

MANDATE_ID_KEY = "loket_mandate_id"
# Decline codes after which trying the same card again cannot succeed without the payer.
HARD_DECLINES = frozenset({
    "authentication_required", "expired_card", "stolen_card", "lost_card", "pickup_card",
    "fraudulent", "merchant_blacklist", "incorrect_number", "invalid_account",
    "card_not_supported", "currency_not_supported", "restricted_card", "security_violation",
    "revocation_of_authorization", "revocation_of_all_authorizations", "stop_payment_order",
    "transaction_not_allowed", "payment_method_unexpected_state", "resource_missing",
})


def _metadata(config: GatewayConfig, mandate_id: str) -> dict:
    return {MANDATE_ID_KEY: mandate_id, **owner_metadata(config)}


def setup(config: GatewayConfig, request: MandateSetupRequest) -> MandateSetup:
    """Create (or reuse) the payer's Customer and a setup-mode Checkout Session."""
    api = StripeApi.for_config(config)
    metadata = _metadata(config, request.mandate_id)
    customer = request.gateway_customer
    if not customer:
        params = {"name": request.customer.name[:250],
                  "metadata": {**metadata, "loket_account": request.customer.account_number}}
        if request.customer.email:
            params["email"] = request.customer.email
        customer = api.create_customer(
            params, f"{key_prefix(config)}-customer-{request.mandate_id}")["id"]
    session = api.create_session({
        "mode": "setup", "currency": request.currency.lower(), "customer": customer,
        "client_reference_id": request.mandate_id, "metadata": metadata,
        "setup_intent_data": {"metadata": metadata},
        "success_url": request.return_url, "cancel_url": request.cancel_url,
    }, f"{key_prefix(config)}-mandate-{request.mandate_id}")
    return MandateSetup(redirect_url=session["url"], gateway_reference=session["id"],
                        raw=session)


def _summary(method: dict) -> PaymentMethodSummary:
    card = method.get("card") or {}
    return PaymentMethodSummary(brand=card.get("brand") or "", last4=card.get("last4") or "",
                                exp_month=card.get("exp_month"), exp_year=card.get("exp_year"))


def events(event: dict, config: GatewayConfig, api: StripeApi) -> list[MandateEvent]:
    """The mandate events in one verified Stripe event (empty for anything else)."""
    obj = event["data"]["object"]
    kind = event["type"]
    occurred = when(event.get("created"))
    if kind in ("checkout.session.completed", "checkout.session.expired"):
        if obj.get("mode") != "setup" or owner_of(obj.get("metadata"), config) != "ours":
            return []
        mandate_id = (obj.get("metadata") or {}).get(MANDATE_ID_KEY)
        if kind == "checkout.session.expired":
            return [MandateEvent(event_id=event["id"], type=MandateEventType.FAILED,
                                 mandate_id=mandate_id, gateway_reference=obj["id"],
                                 occurred_at=occurred)]
        intent = api.retrieve_setup_intent(str(ref_id(obj.get("setup_intent"))))
        method = intent.get("payment_method") or {}
        if isinstance(method, str):
            method = {"id": method}
        return [MandateEvent(event_id=event["id"], type=MandateEventType.ACTIVE,
                             mandate_id=mandate_id, gateway_reference=obj["id"],
                             token=method.get("id"), gateway_customer=ref_id(obj.get("customer")),
                             method=_summary(method), occurred_at=occurred)]
    if kind == "payment_method.detached":
        return [MandateEvent(event_id=event["id"], type=MandateEventType.REVOKED,
                             token=obj["id"], occurred_at=occurred)]
    if kind == "payment_method.automatically_updated":
        return [MandateEvent(event_id=event["id"], type=MandateEventType.UPDATED,
                             token=obj["id"], method=_summary(obj), occurred_at=occurred)]
    return []


def charge(config: GatewayConfig, request: MandateChargeRequest) -> MandateChargeResult:
    """An off-session PaymentIntent for the saved card, idempotent on the charge id."""
    api = StripeApi.for_config(config)
    params = {
        "amount": to_stripe(request.amount), "currency": request.amount.currency.lower(),
        "customer": request.gateway_customer, "payment_method": request.token,
        "off_session": True, "confirm": True,
        "metadata": {**loket_metadata(config, request.payment_id),
                     "loket_autopay_attempt": str(request.attempt)},
    }
    if request.description:
        params["description"] = request.description[:1000]
    try:
        created = api.create_off_session_intent(params,
                                                f"{key_prefix(config)}-{request.charge_id}")
    except stripe.CardError as exc:
        error = exc.error
        code = getattr(error, "decline_code", None) or exc.code or "card_declined"
        intent = getattr(error, "payment_intent", None)
        intent_id = getattr(intent, "id", None) or (ref_id(intent) if intent else None)
        return MandateChargeResult(
            outcome=ChargeOutcome.DECLINED, gateway_reference=intent_id,
            decline_code=code,
            decline_kind=DeclineKind.HARD if code in HARD_DECLINES else DeclineKind.SOFT,
            message=exc.user_message or str(exc), raw={"error": exc.json_body or {}})
    except stripe.InvalidRequestError as exc:  # the card is no longer usable
        message = exc.user_message or str(exc)
        return MandateChargeResult(outcome=ChargeOutcome.DECLINED,
                                   decline_code=exc.code or "payment_method_unexpected_state",
                                   decline_kind=DeclineKind.HARD, message=message,
                                   raw={"error": exc.json_body or {}})
    except stripe.StripeError as exc:
        raise gateway_error(exc, "charge the saved card") from exc
    status = created.get("status")
    if status == "succeeded":
        return MandateChargeResult(outcome=ChargeOutcome.SUCCEEDED,
                                   gateway_reference=created["id"], raw=created)
    if status == "processing":
        return MandateChargeResult(outcome=ChargeOutcome.PENDING,
                                   gateway_reference=created["id"], raw=created)
    return MandateChargeResult(  # requires_action: the payer must authenticate
        outcome=ChargeOutcome.DECLINED, gateway_reference=created["id"],
        decline_code="authentication_required", decline_kind=DeclineKind.HARD,
        message="The card issuer requires the payer to authenticate this payment.",
        raw=created)


def revoke(config: GatewayConfig, gateway_reference: str, token: str | None) -> bool:
    """Detach the saved card (or expire a set-up the payer never finished)."""
    api = StripeApi.for_config(config)
    try:
        if token:
            api.detach_payment_method(token)
        elif gateway_reference:
            api.expire_session(gateway_reference)
    except stripe.InvalidRequestError:
        pass  # already detached, or the session is no longer open: nothing left to revoke
    except stripe.StripeError as exc:
        raise gateway_error(exc, "revoke the saved card") from exc
    return True


__all__ = ["GatewayError", "charge", "events", "revoke", "setup"]
