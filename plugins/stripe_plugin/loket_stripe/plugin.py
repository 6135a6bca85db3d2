"""The Stripe gateway's hook implementations (registered as entry point ``stripe``).

Every gateway hook returns ``None`` unless ``config.kind == "stripe"``. The work is done in
:mod:`loket_stripe.api` (SDK calls), :mod:`loket_stripe.checkout` (session parameters),
:mod:`loket_stripe.webhooks` (verification, normalization) and :mod:`loket_stripe.status`
(fetch status).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import stripe

from loket.plugin_api import (
    CheckoutSession,
    CredentialsRejected,
    GatewayDescription,
    GatewayError,
    Money,
    RefundNotPossible,
    RefundResult,
    SettlementLine,
    hookimpl,
)
from loket_stripe import credentials as creds
from loket_stripe import mandates
from loket_stripe.api import StripeApi, gateway_error, translated
from loket_stripe.checkout import loket_metadata, session_params
from loket_stripe.currency import CURRENCIES, from_stripe, minimum_charge, to_stripe
from loket_stripe.ownership import key_prefix
from loket_stripe.payouts import settled_events
from loket_stripe.status import current_event
from loket_stripe.statuses import STATUSES, map_status
from loket_stripe.webhooks import normalize, verify

LOKET_CONTRACT = "1.3"
KIND = "stripe"
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def _ours(config) -> bool:
    return getattr(config, "kind", None) == KIND


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _checkout_key(config, payment_id: str, params: dict) -> str:
    """The idempotency key of a payment's Checkout Session: its number and a digest of the
    parameters. A retry of the same charge sends the same parameters and gets the same
    session; a payment that took the number of an attempt whose transaction died with its
    process (numbers are gapless, so the next payment takes it again) sends other parameters
    and gets a session of its own instead of Stripe's idempotency error."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
    return f"{key_prefix(config)}-checkout-{payment_id}-{digest.hexdigest()[:16]}"


@hookimpl
def loket_gateway_describe():
    """Stripe: Checkout Sessions by card, in Stripe's presentment currencies."""
    return GatewayDescription(
        kind=KIND, display_name="Stripe", credential_schema=creds.SCHEMA,
        secret_fields=creds.SECRET_FIELDS, logo_url="https://stripe.com/img/v3/home/twitter.png",
        currencies=CURRENCIES, methods=("card",), statuses=STATUSES,
        minimum_charge={c: minimum_charge(c) for c in CURRENCIES},
        zero_decimal_supported=True, mandates=True)


@hookimpl
def loket_gateway_validate_credentials(config, credentials):
    """Formats field by field, then a live ``GET /v1/balance`` with each API key."""
    if not _ours(config):
        return None
    values = creds.check_format(credentials)
    if config.currency and config.currency.upper() not in CURRENCIES:
        raise CredentialsRejected(
            f"{creds.REVIEW}: Stripe does not charge in the tenant's currency "
            f"{config.currency}", errors=[{"field": "currency", "message":
                                           f"{config.currency} is not a Stripe currency"}])
    api_base = config.options.get("api_base")
    for field in ("secret_key", "restricted_key"):
        if field in values:
            _live_check(StripeApi(values[field], api_base, max_network_retries=0), field)
    return values


def _live_check(api: StripeApi, field: str) -> None:
    """``GET /v1/balance`` with one key.

    :raises CredentialsRejected: Stripe refused the key (401/403).
    :raises GatewayError: anything else, classified by the real error: ``network`` when
        Stripe could not be reached (or rate-limited us), ``technical`` for another Stripe
        answer (4xx/5xx), with Stripe's own message and code.
    """
    try:
        api.balance()
    except stripe.StripeError as exc:
        message = exc.user_message or str(exc)
        if isinstance(exc, (stripe.AuthenticationError, stripe.PermissionError)):
            raise CredentialsRejected(
                f"{creds.REVIEW}. Stripe said: {message}", gateway_message=message,
                gateway_code=exc.code or type(exc).__name__,
                errors=[{"field": field, "message": message}]) from exc
        error = gateway_error(exc, "check the keys")
        if error.category != "network":
            status = getattr(exc, "http_status", None)
            error = GatewayError(
                f"Stripe answered{f' HTTP {status}' if status else ''} while checking the "
                f"keys: {message}", gateway_message=message, gateway_code=error.gateway_code,
                category=error.category)
        raise error from exc


@hookimpl
def loket_gateway_handshake(config):
    """Retrieve the account and balance; returns facts for the admin."""
    if not _ours(config):
        return None
    api = StripeApi.for_config(config)
    with translated("confirm the connection"):
        balance = api.balance()
        account = api.account()
    profile = account.get("business_profile") or {}
    return {
        "account_id": account.get("id"),
        "account_name": profile.get("name") or account.get("email"),
        "country": account.get("country"),
        "default_currency": (account.get("default_currency") or "").upper(),
        "charges_enabled": account.get("charges_enabled"),
        "payouts_enabled": account.get("payouts_enabled"),
        "livemode": balance.get("livemode"),
        "available": [from_stripe(b["amount"], b["currency"]).to_json()
                      for b in balance.get("available", [])],
    }


@hookimpl
def loket_gateway_charge(config, request):
    """One Checkout Session per payment, idempotent on the payment id."""
    if not _ours(config):
        return None
    if request.amount.currency.upper() != config.currency.upper():
        raise GatewayError(f"payment in {request.amount.currency} but this Stripe "
                           f"configuration charges {config.currency}", field="currency")
    params = session_params(request, _now(), config)
    session = StripeApi.for_config(config).create_session(
        params, _checkout_key(config, request.payment_id, params))
    return CheckoutSession(redirect_url=session["url"], gateway_reference=session["id"],
                           raw=session)


@hookimpl
def loket_gateway_parse_webhook(config, request):
    """Verify the Stripe-Signature (300 s tolerance) and normalize the event."""
    if not _ours(config):
        return None
    event = verify(config, request)
    return normalize(event, config, lambda: StripeApi.for_config(config))


@hookimpl
def loket_gateway_map_status(config, raw_status):
    """The issue's status table (see :mod:`loket_stripe.statuses`)."""
    if not _ours(config):
        return None
    return map_status(raw_status)


@hookimpl
def loket_gateway_fetch_status(config, payment_id, gateway_reference):
    """Look the session (``cs_…``) or PaymentIntent (``pi_…``) up and say what it is now."""
    if not _ours(config):
        return None
    return current_event(StripeApi.for_config(config), payment_id, gateway_reference, config)


def _intent_of(api: StripeApi, request) -> str:
    intent = (request.details or {}).get("payment_intent")
    if intent:
        return intent
    reference = request.gateway_reference or ""
    if reference.startswith("pi_"):
        return reference
    session = api.retrieve_session(reference)
    intent = session.get("payment_intent")
    if isinstance(intent, dict):
        intent = intent.get("id")
    if not intent:
        raise RefundNotPossible(f"payment {request.payment_id} was never paid on Stripe",
                                gateway_code="no_payment_intent")
    return intent


@hookimpl
def loket_gateway_refund(config, request):
    """Refund through ``POST /v1/refunds`` on the payment's PaymentIntent.

    :returns: ``succeeded``, or ``pending`` (pending, requires_action); never ``failed``.
    :raises RefundNotPossible: refused before calling Stripe, refused by Stripe, or created
        already failed/canceled (Stripe's own words in ``gateway_message``).
    """
    if not _ours(config):
        return None
    if request.amount.amount <= 0:
        raise RefundNotPossible("a refund must be more than zero", field="amount")
    if request.amount.currency != request.captured.currency:
        raise RefundNotPossible("refund and payment currencies differ", field="amount")
    if request.amount.amount > request.captured.amount:
        raise RefundNotPossible(
            f"cannot refund {request.amount}: only {request.captured} was captured",
            field="amount")
    api = StripeApi.for_config(config)
    params = {
        "payment_intent": _intent_of(api, request),
        "amount": to_stripe(request.amount),
        "reason": request.reason if request.reason in REFUND_REASONS else
        "requested_by_customer",
        "metadata": {**loket_metadata(config, request.payment_id),
                     "loket_refund_id": request.refund_id},
    }
    try:
        refund = api.create_refund(params, f"{key_prefix(config)}-refund-{request.refund_id}")
    except stripe.InvalidRequestError as exc:
        message = exc.user_message or str(exc)
        raise RefundNotPossible(f"Stripe refused the refund: {message}",
                                gateway_message=message, gateway_code=exc.code) from exc
    except stripe.StripeError as exc:
        raise gateway_error(exc, "refund the payment") from exc
    status = refund.get("status")
    if status in ("failed", "canceled"):
        reason = refund.get("failure_reason") or status
        raise RefundNotPossible(f"Stripe did not make the refund: {reason}",
                                gateway_message=reason, gateway_code=reason)
    status = "succeeded" if status == "succeeded" else "pending"
    return RefundResult(refund_reference=refund["id"], status=status, raw=refund)


@hookimpl
def loket_gateway_fetch_settlements(config, since, until):
    """This configuration's payments in the paid payouts arriving in ``[since, until)``.

    ``amount`` is in the payment's currency; ``fee``/``net`` in the settlement currency
    (the same one unless the account settles in another; ``raw`` then has the rate).
    """
    if not _ours(config):
        return None
    api = StripeApi.for_config(config)
    lines = []
    for payout in api.paid_payouts(since, until):
        for event in settled_events(payout["id"], payout, api.payout_transactions(payout["id"]),
                                    config, lambda: api):
            details = event.details
            if "fee" in details:
                fee = Money(details["fee"], event.amount.currency)
                net = Money(details["net"], event.amount.currency)
            else:  # settled in another currency: Stripe's fee and net are in that one
                fee = Money(details["settlement_fee"], details["settlement_currency"])
                net = Money(details["settlement_net"], details["settlement_currency"])
            lines.append(SettlementLine(
                gateway_reference=event.gateway_reference, amount=event.amount,
                fee=fee, net=net,
                settled_at=event.occurred_at, payment_id=event.payment_id,
                payout_reference=payout["id"], raw=dict(event.details)))
    return lines


@hookimpl
def loket_gateway_mandate_setup(config, request):
    """Checkout in ``setup`` mode for the payer's Customer (see :mod:`loket_stripe.mandates`)."""
    if not _ours(config):
        return None
    return mandates.setup(config, request)


@hookimpl
def loket_gateway_parse_mandate_events(config, request):
    """Saved-card events: set-up completed or expired, card detached or updated."""
    if not _ours(config):
        return None
    return mandates.events(verify(config, request), config, StripeApi.for_config(config))


@hookimpl
def loket_gateway_mandate_charge(config, request):
    """An off-session PaymentIntent (``off_session=true, confirm=true``)."""
    if not _ours(config):
        return None
    return mandates.charge(config, request)


@hookimpl
def loket_gateway_mandate_revoke(config, gateway_reference, token):
    """Detach the saved card."""
    if not _ours(config):
        return None
    return mandates.revoke(config, gateway_reference, token)
