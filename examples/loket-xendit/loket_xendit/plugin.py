"""Xendit Invoices for loket: a hosted invoice page, paid in whole rupiah.

Xendit authenticates its callbacks with a fixed ``x-callback-token`` header, not a signature
over the body, so the token proves only who sent a callback: every event is built from the
invoice fetched from Xendit, never from the callback's body. Xendit sends no callback for a
declined attempt (the invoice stays ``PENDING``), and the invoice's ``external_id`` is not
unique at Xendit, so a charge looks the invoice up before creating one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

import requests

from loket.plugin_api import (
    EVENT_EXPIRED,
    EVENT_IGNORED,
    EVENT_PENDING,
    EVENT_SETTLED,
    EVENT_SUCCEEDED,
    CheckoutSession,
    CredentialsRejected,
    GatewayConfig,
    GatewayDescription,
    GatewayError,
    GatewayEvent,
    Money,
    RefundNotPossible,
    RefundResult,
    SettlementStatus,
    StatusMapping,
    WebhookRejected,
    check_credentials,
    dumps,
    from_major,
    hookimpl,
    loads,
    tokens_match,
    whole_units,
)

LOKET_CONTRACT = "1.3"
KIND = "xendit"
API_BASE = "https://api.xendit.co"
DAY = dt.timedelta(days=1)
SCHEMA = {
    "type": "object",
    "properties": {
        "secret_key": {"type": "string", "pattern": "^xnd_", "minLength": 12,
                       "title": "Secret API key"},
        "callback_token": {"type": "string", "minLength": 12, "title": "Callback token"},
    },
    "required": ["secret_key", "callback_token"],
    "additionalProperties": False,
}
# Xendit's invoice status -> (the event it means, the words staff see, settlement word)
STATUSES = {
    "PENDING": (EVENT_PENDING, "Pending", SettlementStatus.NOT_APPLICABLE),
    "PAID": (EVENT_SUCCEEDED, "Paid", SettlementStatus.IN_PROGRESS),
    "SETTLED": (EVENT_SETTLED, "Settled", SettlementStatus.SUCCESS),
    "EXPIRED": (EVENT_EXPIRED, "Expired", SettlementStatus.NOT_APPLICABLE),
}


def _call(config: GatewayConfig, method: str, path: str, body: Any = None, *,
          credentials: dict[str, Any] | None = None, params: dict[str, str] | None = None,
          refusal: type[GatewayError] = GatewayError) -> Any:
    """One Xendit API call; Xendit's refusal is raised as ``refusal`` with its words."""
    key = (credentials or config.credentials)["secret_key"]
    try:
        answer = requests.request(
            method, config.options.get("api_base", API_BASE) + path, auth=(key, ""),
            params=params, data=None if body is None else dumps(body), timeout=20,
            headers={"content-type": "application/json"})
    except requests.RequestException as exc:
        raise GatewayError(f"Xendit cannot be reached: {type(exc).__name__}",
                           category="network") from None
    data = loads(answer.content) if answer.content else {}
    if answer.status_code == 401:
        raise CredentialsRejected("Xendit refused the secret key", field="secret_key",
                                  gateway_message=data.get("message"))
    if answer.status_code >= 400:
        raise refusal(f"Xendit refused: {data.get('message', answer.status_code)}",
                      gateway_message=data.get("message"), gateway_code=data.get("error_code"))
    return data


def _event(invoice: dict[str, Any], event_id: str | None = None) -> GatewayEvent:
    """Xendit's own record of an invoice as a loket event."""
    status = invoice["status"]
    expired = status == "EXPIRED"
    return GatewayEvent(
        event_id=event_id or f"{invoice['id']}:{status}",
        type=STATUSES.get(status, (EVENT_IGNORED,))[0], raw_status=status,
        payment_id=invoice["external_id"], gateway_reference=invoice["id"],
        amount=from_major(invoice["amount"], invoice.get("currency", "IDR")),
        failure_message="The invoice expired before it was paid" if expired else None,
        failure_category="expired" if expired else None,
        details={"payment_channel": invoice.get("payment_channel", "")})


@hookimpl
def loket_gateway_describe() -> GatewayDescription:
    return GatewayDescription(
        kind=KIND, display_name="Xendit Invoices", credential_schema=SCHEMA,
        secret_fields=("secret_key", "callback_token"), currencies=("IDR",),
        methods=("va", "ewallet", "qris", "card"), statuses=tuple(STATUSES),
        minimum_charge={"IDR": Money.parse("10000", "IDR")}, zero_decimal_supported=False)


@hookimpl
def loket_gateway_validate_credentials(config: GatewayConfig,
                                       credentials: dict[str, Any]) -> dict[str, Any] | None:
    if config.kind != KIND:
        return None
    checked = check_credentials(SCHEMA, credentials, "Xendit")
    _call(config, "GET", "/balance", credentials=checked)
    return checked


@hookimpl
def loket_gateway_handshake(config: GatewayConfig) -> dict[str, Any] | None:
    if config.kind != KIND:
        return None
    return {"balance": str(_call(config, "GET", "/balance")["balance"])}


@hookimpl
def loket_gateway_charge(config: GatewayConfig, request: Any) -> CheckoutSession | None:
    if config.kind != KIND:
        return None
    # Xendit keeps external_id unique only if asked to look: find the invoice first.
    found = _call(config, "GET", "/v2/invoices", params={"external_id": request.payment_id})
    invoice = found[0] if found else _call(config, "POST", "/v2/invoices", {
        "external_id": request.payment_id, "amount": whole_units(request.amount),
        "currency": request.amount.currency, "description": request.description,
        "payer_email": request.customer.email,
        "invoice_duration": max(60, int((request.expires_at - (
            request.created_at or request.expires_at - DAY)).total_seconds())),
        "success_redirect_url": request.return_url,
        "failure_redirect_url": request.cancel_url})
    return CheckoutSession(redirect_url=invoice["invoice_url"],
                           gateway_reference=invoice["id"],
                           raw={"expiry_date": invoice.get("expiry_date")})


@hookimpl
def loket_gateway_parse_webhook(config: GatewayConfig, request: Any) -> list[GatewayEvent] | None:
    if config.kind != KIND:
        return None
    if not tokens_match(config.credentials["callback_token"],
                        request.headers.get("x-callback-token")):
        raise WebhookRejected("missing or wrong x-callback-token")
    claimed = loads(request.body)
    try:  # the token proves the sender, not the body: believe only Xendit's record
        invoice = _call(config, "GET", f"/v2/invoices/{quote(str(claimed['id']), safe='')}")
    except GatewayError as exc:  # anything but "no such invoice" is answered 503: retried
        if exc.gateway_code != "INVOICE_NOT_FOUND_ERROR":
            raise
        raise WebhookRejected("the callback names an invoice Xendit does not know") from None
    if invoice["external_id"] != claimed.get("external_id"):
        raise WebhookRejected("the callback disagrees with Xendit's record of the invoice")
    return [_event(invoice)]


@hookimpl
def loket_gateway_map_status(config: GatewayConfig, raw_status: str) -> StatusMapping | None:
    if config.kind != KIND:
        return None
    _, words, settlement = STATUSES.get(raw_status, (None, f"Xendit: {raw_status}",
                                                     SettlementStatus.KEEP))
    return StatusMapping(webhook_status=words, settlement_status=settlement)


@hookimpl
def loket_gateway_fetch_status(config: GatewayConfig, payment_id: str,
                               gateway_reference: str | None) -> GatewayEvent | None:
    if config.kind != KIND:
        return None
    invoice = _call(config, "GET", f"/v2/invoices/{quote(gateway_reference or '', safe='')}")
    return _event(invoice, event_id=f"poll:{invoice['id']}:{invoice['status']}")


@hookimpl
def loket_gateway_refund(config: GatewayConfig, request: Any) -> RefundResult | None:
    if config.kind != KIND:
        return None
    if request.amount > request.captured:
        raise RefundNotPossible(f"cannot refund {request.amount}: {request.captured} was paid")
    refund = _call(config, "POST", "/refunds", {
        "invoice_id": request.gateway_reference, "reference_id": request.refund_id,
        "amount": whole_units(request.amount), "reason": "REQUESTED_BY_CUSTOMER"},
        refusal=RefundNotPossible)
    status = {"SUCCEEDED": "succeeded", "FAILED": "failed"}.get(refund["status"], "pending")
    return RefundResult(refund["id"], status, raw={"xendit_status": refund["status"]})
