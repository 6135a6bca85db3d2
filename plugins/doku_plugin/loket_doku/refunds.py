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
from loket_doku.api import DokuClient
from loket_doku.checkout import request_id_for, to_rupiah
from loket_doku.webhooks import channel_details


def refund_request_id(refund_id: str) -> str:
    """Return the refund ``Request-Id``: stable per loket refund, so a retry is a replay."""
    return f"loket-refund-{refund_id}"


def is_card(details: dict) -> bool:
    """True when the payment's channel details say it was paid by card."""
    words = f"{details.get('service', '')} {details.get('channel', '')}".upper()
    return "CREDIT_CARD" in words or "CARD" == details.get("service", "").upper()


def _channel(client: DokuClient, request: RefundRequest) -> dict:
    details = dict(request.details or {})
    if details.get("service") or details.get("channel"):
        return details
    invoice = request.gateway_reference or request.payment_id
    answer = client.check_status(invoice, f"loket-status-{secrets.token_hex(8)}")
    return {**channel_details(answer.body), **details}


def _status(body: dict) -> str:
    for block in ("refund", "transaction"):
        value = body.get(block, {}).get("status") if isinstance(body.get(block), dict) else None
        if value:
            return str(value).upper()
    return ""


def refund(config: GatewayConfig, request: RefundRequest) -> RefundResult:
    """Refund ``request.amount`` of a DOKU payment.

    :raises RefundNotPossible: more than was captured, an amount with sen, or a channel
        DOKU cannot refund online ("refund must be made manually").
    :raises GatewayError: DOKU refused or could not be reached.
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
    details = _channel(client, request)
    if not is_card(details):
        channel = details.get("channel") or details.get("service") or "this channel"
        raise RefundNotPossible(
            f"DOKU cannot refund {channel} payments online: the refund must be made "
            "manually (transfer the money back to the payer and record it in loket)",
            gateway_code="manual_refund_required", category="technical")
    request_id = refund_request_id(request.refund_id)
    payload = {
        "order": {"invoice_number": request.gateway_reference or request.payment_id},
        "payment": {"original_request_id": details.get("original_request_id")
                    or request_id_for(request.payment_id)},
        "refund": {"amount": rupiah},
    }
    answer = client.refund_card(payload, request_id)
    status = _status(answer.body)
    if status in ("SUCCESS", "REFUNDED"):
        outcome = "succeeded"
    elif status == "FAILED":
        outcome = "failed"
    else:
        outcome = "pending"
    return RefundResult(refund_reference=request_id, status=outcome,
                        raw={"doku_status": status, "replayed": answer.replayed})
