"""Refunds through DOKU: cards online, every other channel by hand.

DOKU's online refund API is for cards only (``POST /cancellation/credit-card/refund``,
partial and repeated refunds allowed up to the original amount). Virtual accounts,
convenience stores (O2O) and the rest have no online refund for Checkout merchants: the
refund hook raises :class:`RefundNotPossible` so the engine raises a to-do for a manual
refund — never a silent success.
"""

from __future__ import annotations

import secrets

from loket.plugin_api import (
    GatewayConfig,
    GatewayError,
    RefundNotPossible,
    RefundRequest,
    RefundResult,
)
from loket_doku.api import DokuClient, DokuHTTPError, error_parts, is_auth_refusal
from loket_doku.checkout import (
    invoice_for,
    legacy_request_id,
    request_id_for,
    scope,
    to_rupiah,
)
from loket_doku.webhooks import channel_details


def refund_request_id(config: GatewayConfig, refund_id: str) -> str:
    """Return the refund ``Request-Id``: stable per loket refund, so a retry is a replay;
    scoped like the checkout's (:func:`checkout.scope`)."""
    return f"{scope(config)}-refund-{refund_id}"


def _invoice(config: GatewayConfig, request: RefundRequest) -> str:
    return request.gateway_reference or invoice_for(config, request.payment_id)


def _original_request_id(config: GatewayConfig, request: RefundRequest) -> str:
    # The checkout's Request-Id, when neither the payment's details nor DOKU's status say it:
    # the scoped one for this configuration's invoice, the old one for a bare invoice.
    if _invoice(config, request) == invoice_for(config, request.payment_id):
        return request_id_for(config, request.payment_id)
    return legacy_request_id(request.payment_id)


def is_card(details: dict) -> bool:
    """True when the payment's channel details say it was paid by card."""
    words = f"{details.get('service', '')} {details.get('channel', '')}".upper()
    return "CREDIT_CARD" in words or "CARD" == details.get("service", "").upper()


def _channel(config: GatewayConfig, client: DokuClient, request: RefundRequest) -> dict:
    details = dict(request.details or {})
    if details.get("service") or details.get("channel"):
        return details
    answer = client.check_status(_invoice(config, request),
                                 f"loket-status-{secrets.token_hex(8)}")
    return {**channel_details(answer.body), **details}


#: refund words that mean the money went back / the refund is still being processed.
SUCCEEDED_WORDS = ("SUCCESS", "REFUNDED")
PENDING_WORDS = ("PENDING", "PROCESSING", "ON_PROCESS", "IN_PROGRESS")
FAILED_WORDS = ("FAILED", "REJECTED", "DECLINED", "CANCELLED", "CANCELED")


def _status(body: dict) -> str:
    for block in ("refund", "transaction"):
        value = body.get(block, {}).get("status") if isinstance(body.get(block), dict) else None
        if value:
            return str(value).upper()
    return ""


def refund_reference(body: dict, request_id: str) -> str:
    """The refund's reference: DOKU's own refund id (``refund.id``) when the answer carries
    one, so later REFUNDED notifications and status polls match it; else the Request-Id."""
    block = body.get("refund") if isinstance(body.get("refund"), dict) else {}
    return str(block.get("id") or request_id)


def _send(client: DokuClient, payload: dict, request_id: str):
    try:
        return client.refund_card(payload, request_id)
    except DokuHTTPError as exc:
        if exc.http_status >= 500 or is_auth_refusal(exc):
            raise  # DOKU failed or the keys are wrong: a GatewayError, try again later
        raise RefundNotPossible(
            f"DOKU refused the refund: {exc.gateway_message or exc.detail}",
            gateway_message=exc.gateway_message, gateway_code=exc.gateway_code,
            category="declined") from exc


def refund(config: GatewayConfig, request: RefundRequest) -> RefundResult:
    """Refund ``request.amount`` of a DOKU payment.

    Called by the refund hook. Returns a :class:`RefundResult` whose ``refund_reference`` is
    DOKU's refund id (or the ``Request-Id`` when DOKU gives none) and whose status is
    ``succeeded`` or ``pending`` — never ``failed``.

    :raises RefundNotPossible: more than was captured, an amount with sen, a channel DOKU
        cannot refund online ("refund must be made manually"), or DOKU refused the refund
        (its own words in ``gateway_message``).
    :raises GatewayError: DOKU could not be reached, failed (5xx), refused the keys, or
        answered without a refund status loket can read.
    """
    if request.amount.amount <= 0 or request.amount.amount > request.captured.amount:
        raise RefundNotPossible(
            f"cannot refund {request.amount}: the payment captured {request.captured}",
            field="amount")
    try:
        rupiah = to_rupiah(request.amount)
    except GatewayError as exc:
        raise RefundNotPossible(exc.detail, field="amount") from exc
    client = DokuClient.for_config(config)
    details = _channel(config, client, request)
    if not is_card(details):
        channel = details.get("channel") or details.get("service") or "this channel"
        raise RefundNotPossible(
            f"DOKU cannot refund {channel} payments online: the refund must be made "
            "manually (transfer the money back to the payer and record it in loket)",
            gateway_code="manual_refund_required", category="technical")
    request_id = refund_request_id(config, request.refund_id)
    payload = {
        "order": {"invoice_number": _invoice(config, request)},
        "payment": {"original_request_id": details.get("original_request_id")
                    or _original_request_id(config, request)},
        "refund": {"amount": rupiah},
    }
    answer = _send(client, payload, request_id)
    status = _status(answer.body)
    message, code = error_parts(answer.body.get("refund") or answer.body)
    if status in SUCCEEDED_WORDS:
        outcome = "succeeded"
    elif status in PENDING_WORDS:
        outcome = "pending"
    elif status in FAILED_WORDS:
        raise RefundNotPossible(
            f"DOKU refused the refund ({status})" + (f": {message}" if message else ""),
            gateway_message=message or status, gateway_code=code or status,
            category="declined")
    else:
        # DOKU accepted the request but says nothing loket can read: recording it as
        # pending or failed would be a guess. A retry replays the same answer (409).
        raise GatewayError(
            "DOKU answered the refund without a status loket can read"
            + (f" ({status!r})" if status else "")
            + "; check the refund in DOKU's Back Office before recording it",
            gateway_message=str(answer.body)[:500], gateway_code=status or None,
            category="technical")
    return RefundResult(refund_reference=refund_reference(answer.body, request_id),
                        status=outcome,
                        raw={"doku_status": status, "replayed": answer.replayed,
                             "request_id": request_id})
