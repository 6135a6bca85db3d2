"""Turn a loket :class:`CheckoutRequest` into a DOKU Checkout request, and its answer back.

Units are converted here and only here: loket carries IDR in minor units (sen, 2 decimals
per ISO 4217); DOKU takes whole rupiah with no decimals.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math

from loket.plugin_api import (
    CheckoutRequest,
    CheckoutSession,
    GatewayConfig,
    GatewayError,
    Money,
    minor_digits,
    whole_units,
)
from loket_doku.api import DokuResponse

CURRENCY = "IDR"
MAX_INVOICE_LENGTH = 30  # DOKU: 64, but 30 when the Credit Card channel is active
MAX_DUE_MINUTES = 999999  # payment_due_date has at most 6 digits
MAX_ITEM_NAME = 255
SCOPE_TAG_LENGTH = 8


def retries_disabled(config: GatewayConfig) -> bool:
    """True when ``options["disable_retry_payment"]`` is set: the plugin then creates
    checkouts with ``order.disable_retry_payment = true``, so a failed attempt ends the
    checkout (DOKU FAILED is final). Otherwise the payer may retry on the same checkout."""
    value = config.options.get("disable_retry_payment", False)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def scope(config: GatewayConfig) -> str:
    """The scope every Request-Id starts with: this installation, tenant and configuration.

    Request-Ids and invoice numbers are per DOKU merchant: two loket installations (or one
    whose database was reset), two tenants or two configurations sharing a merchant must
    never send the same one for their own payment numbers.
    """
    installation = config.installation_id
    prefix = f"loket-{installation}" if installation else "loket"
    return f"{prefix}-{config.tenant_id}-{config.id}"


def request_id_for(config: GatewayConfig, payment_id: str) -> str:
    """Return the Checkout ``Request-Id`` for a payment: stable, so a retry is a replay."""
    return f"{scope(config)}-pay-{payment_id}"


def legacy_request_id(payment_id: str) -> str:
    """The Request-Id of a checkout created before Request-Ids were scoped (its invoice is
    the bare payment number)."""
    return f"loket-pay-{payment_id}"


def scope_tag(config: GatewayConfig) -> str:
    """The short hash of :func:`scope` that starts this configuration's invoice numbers."""
    return hashlib.sha256(scope(config).encode("utf-8")).hexdigest()[:SCOPE_TAG_LENGTH]


def invoice_for(config: GatewayConfig, payment_id: str) -> str:
    """Return the DOKU invoice number of a payment: ``<scope tag>-<payment number>``.

    A number too long for that within DOKU's 30 characters is replaced by a digest of it
    (``<scope tag><digest>``, no ``-``); loket then finds the payment by its gateway
    reference, which is this invoice.
    """
    tag = scope_tag(config)
    invoice = f"{tag}-{payment_id}"
    if len(invoice) <= MAX_INVOICE_LENGTH:
        return invoice
    digest = hashlib.sha256(payment_id.encode("utf-8")).hexdigest()
    return (tag + digest)[:MAX_INVOICE_LENGTH]


def payment_number(invoice: str, tag: str) -> str | None:
    """The loket payment number ``invoice`` carries after ``tag`` (this configuration's
    :func:`scope_tag`); ``None`` for any other invoice.

    An invoice from before invoices were scoped is the bare payment number: loket finds
    that payment by its gateway reference (the same bare invoice), never by number, so an
    unscoped invoice of another installation sharing the merchant names no new payment.
    """
    prefix = f"{tag}-"
    if invoice.startswith(prefix) and len(invoice) > len(prefix):
        return invoice[len(prefix):]
    return None


def to_rupiah(amount: Money, *, field: str = "amount") -> int:
    """Convert IDR Money (minor units) to whole rupiah.

    :raises GatewayError: for another currency or an amount with sen (DOKU takes none).
    """
    if amount.currency != CURRENCY:
        raise GatewayError(f"DOKU charges in IDR only, not {amount.currency}", field=field)
    try:
        return whole_units(amount)
    except ValueError:
        raise GatewayError(
            f"DOKU charges whole rupiah only: {amount} has a fraction of a rupiah; round the "
            "amount to whole rupiah", field=field) from None


def due_minutes(expires_at: dt.datetime, now: dt.datetime | None = None) -> int:
    """Minutes from ``now`` until ``expires_at``, rounded up, between 1 and 999999."""
    now = now or dt.datetime.now(dt.UTC)
    seconds = (expires_at - now).total_seconds()
    return max(1, min(MAX_DUE_MINUTES, math.ceil(seconds / 60)))


def _line_items(request: CheckoutRequest, total: int) -> list[dict] | None:
    items = []
    for item in request.items:
        if item.amount.currency != CURRENCY or item.amount.amount % 10 ** minor_digits(CURRENCY):
            return None  # an item DOKU cannot show exactly: leave the list out
        items.append({
            "id": item.reference[:64],
            "name": (item.description or item.reference)[:MAX_ITEM_NAME],
            "quantity": 1,
            "price": to_rupiah(item.amount, field="items"),
            "category": item.kind,
        })
    difference = total - sum(i["price"] for i in items)
    if difference > 0:
        items.append({"id": "fee", "name": "Fee", "quantity": 1, "price": difference,
                      "category": "fee"})
    elif difference < 0:
        return None
    return items or None


def build_payload(config: GatewayConfig, request: CheckoutRequest,
                  now: dt.datetime | None = None) -> dict:
    """Build the ``POST /checkout/v1/payment`` body for ``request``.

    ``invoice_number`` is :func:`invoice_for` the payment id; ``line_items`` (when they add
    up exactly) list the obligations plus any passed-on fee; ``payment_due_date`` counts
    minutes from ``request.created_at`` (else now) until ``request.expires_at``; DOKU
    notifies ``config.webhook_url`` (override_notification_url);
    ``disable_retry_payment`` follows :func:`retries_disabled`.

    :raises GatewayError: for a missing payment id or an amount DOKU cannot charge.
    """
    if not request.payment_id:
        raise GatewayError("a DOKU checkout needs a payment number", field="payment_id")
    invoice = invoice_for(config, request.payment_id)
    total = to_rupiah(request.amount)
    if total <= 0:
        raise GatewayError("DOKU cannot charge a zero amount", field="amount")
    order = {
        "invoice_number": invoice,
        "amount": total,
        "currency": CURRENCY,
        "callback_url": request.return_url,
        "callback_url_cancel": request.cancel_url,
        "auto_redirect": True,
        # Always explicit, so whether FAILED is final never rests on DOKU's default.
        "disable_retry_payment": retries_disabled(config),
    }
    items = _line_items(request, total)
    if items:
        order["line_items"] = items
    customer = {"id": request.customer.account_number[:50], "name": request.customer.name[:255]}
    if request.customer.email:
        customer["email"] = request.customer.email
    if request.customer.phone:
        customer["phone"] = request.customer.phone
    # From the payment's creation when loket says it (contract 1.1), so a retried charge
    # sends the same body under the same Request-Id; otherwise from now.
    payment: dict = {"payment_due_date": due_minutes(request.expires_at,
                                                     request.created_at or now)}
    methods = request.extra.get("payment_method_types") or config.options.get(
        "payment_method_types")
    if methods:
        payment["payment_method_types"] = list(methods)
    payload: dict = {"order": order, "payment": payment, "customer": customer}
    if config.webhook_url:
        payload["additional_info"] = {"override_notification_url": config.webhook_url}
    return payload


def session_from(response: DokuResponse, invoice: str, request_id: str) -> CheckoutSession:
    """Read DOKU's answer (fresh or a 409 replay) into a :class:`CheckoutSession`.

    :raises GatewayError: when the answer has no payment URL or is for another invoice.
    """
    body = response.body.get("response", response.body)
    payment = body.get("payment") if isinstance(body, dict) else None
    order = body.get("order") if isinstance(body, dict) else None
    url = payment.get("url") if isinstance(payment, dict) else None
    answered = order.get("invoice_number") if isinstance(order, dict) else None
    if not url or answered != invoice:
        message = response.body.get("message")
        raise GatewayError(
            "DOKU did not return a payment page for this invoice",
            gateway_message=str(message) if message else str(response.body)[:500],
            gateway_code=str(response.status))
    return CheckoutSession(
        redirect_url=str(url),
        gateway_reference=invoice,
        raw={"request_id": request_id, "token_id": payment.get("token_id"),
             "expired_date": payment.get("expired_date"), "replayed": response.replayed},
    )
