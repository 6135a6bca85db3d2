"""Acme webhooks, filled in."""

from __future__ import annotations

import hashlib
import hmac
import json

from loket_acme.api import from_gateway_amount

from loket.plugin_api import GatewayEvent, WebhookRejected

TYPES = {"paid": "payment.succeeded", "declined": "payment.failed",
         "expired": "payment.expired", "open": "payment.pending",
         "refunded": "payment.succeeded"}


def verify(config, request) -> None:
    secret = config.credentials["webhook_secret"].encode()
    expected = hmac.new(secret, request.body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, request.headers.get("x-fake-signature", "")):
        raise WebhookRejected("Acme webhook signature does not match")


def normalize(config, body: bytes) -> list[GatewayEvent]:
    payload = json.loads(body)
    data = payload["data"]
    if payload["type"] == "refund.succeeded":
        return [GatewayEvent(
            event_id=payload["id"], type="payment.refunded", raw_status="refunded",
            payment_id=data["metadata"].get("payment_id"), gateway_reference=data["checkout"],
            refund_reference=data["id"], amount=from_gateway_amount(data["amount"],
                                                                    data["currency"]))]
    return [event_from_payment(config, data, payload["id"])]


def event_from_payment(config, payment: dict, event_id: str | None) -> GatewayEvent:
    status = payment["status"]
    failure = payment.get("failure") or {}
    return GatewayEvent(
        event_id=event_id or f"poll:{payment['id']}:{status}", type=TYPES[status],
        raw_status=status, payment_id=payment["metadata"].get("payment_id"),
        gateway_reference=payment["id"],
        amount=from_gateway_amount(payment["amount"], payment["currency"]),
        failure_message=failure.get("message"), failure_code=failure.get("code"),
        failure_category="declined" if failure else None)
