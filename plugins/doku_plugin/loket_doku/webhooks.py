"""DOKU HTTP notifications: verification and normalization (also used for check status).

A notification is verified with the non-SNAP recipe where ``Request-Target`` is the path of
loket's own notification URL (the path of ``config.webhook_url``, which loket gives DOKU as
``override_notification_url``: with a base URL such as ``https://host/loket`` that path
starts with ``/loket``) and ``Digest`` covers the raw body.
Check-status answers have the same shape as notifications, so :func:`event_from_body`
serves both; fields DOKU adds are ignored.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from urllib.parse import urlsplit

import attrs

from loket.plugin_api import (
    EVENT_EXPIRED,
    EVENT_FAILED,
    EVENT_IGNORED,
    EVENT_PENDING,
    EVENT_REFUNDED,
    EVENT_SUCCEEDED,
    GatewayConfig,
    GatewayEvent,
    Money,
    ValidationFailed,
    WebhookRejected,
    WebhookRequest,
)
from loket_doku import signature
from loket_doku.api import decode
from loket_doku.checkout import CURRENCY, payment_number, retries_disabled, scope_tag
from loket_doku.statuses import event_type

log = logging.getLogger(__name__)


class UnreadableOutcome(ValueError):
    """A DOKU body reports an outcome loket must not apply as it stands (a SUCCESS whose
    amount cannot be read). :func:`parse` turns it into ``WebhookRejected``; the status
    poll into ``GatewayError``."""


def _get(body: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(body, dict):
            return None
        body = body.get(key)
    return body


def _money(value: Any) -> Money | None:
    if value is None or value == "":
        return None
    try:
        return Money.parse(str(value), CURRENCY)
    except ValidationFailed:
        return None


def _when(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ"):
        try:
            return dt.datetime.strptime(value, fmt).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def channel_details(body: dict) -> dict:
    """Collect what identifies how the payer paid (channel, VA number, payment code, card)."""
    details = {
        "service": _get(body, "service", "id"),
        "channel": _get(body, "channel", "id"),
        "acquirer": _get(body, "acquirer", "id"),
        "original_request_id": _get(body, "transaction", "original_request_id"),
        "transaction_date": _get(body, "transaction", "date"),
        "va_number": _get(body, "virtual_account_info", "virtual_account_number"),
        "payment_code": _get(body, "online_to_offline_info", "payment_code"),
        "masked_card_number": _get(body, "card_payment", "masked_card_number"),
        "approval_code": _get(body, "card_payment", "approval_code"),
    }
    return {k: str(v) for k, v in details.items() if v not in (None, "")}


def event_id(invoice: str, status: str, original_request_id: str | None) -> str:
    """The dedup key: the same DOKU transaction outcome always gives the same id.

    Built from the invoice, the status and DOKU's ``original_request_id`` — never from the
    notification's own Request-Id or timestamp, which a retry may change.
    """
    return f"doku:{invoice}:{status}:{original_request_id or '-'}"


def _failure(body: dict) -> tuple[str, str | None, str]:
    message = (_get(body, "card_payment", "response_message")
               or _get(body, "transaction", "message") or "DOKU reported the payment failed")
    code = _get(body, "card_payment", "response_code") or _get(body, "transaction", "code")
    words = str(message).lower()
    if "insufficient" in words:
        category = "insufficient_funds"
    elif "timeout" in words or "time out" in words:
        category = "timeout"
    else:
        category = "declined"
    return str(message), (str(code) if code else None), category


def event_from_body(body: Any, *, retries_allowed: bool = True) -> GatewayEvent:
    """Normalize one notification / check-status body into a :class:`GatewayEvent`.

    SUCCESS -> ``payment.succeeded`` with channel ``details``; FAILED -> ``payment.pending``
    carrying DOKU's failure words while the payer may retry on the same checkout
    (``retries_allowed``), else ``payment.failed``; EXPIRED -> ``payment.expired``;
    PENDING/TIMEOUT/REDIRECT -> ``payment.pending``; REFUNDED -> ``payment.refunded``
    (always with a ``refund_reference``; ``amount`` only when DOKU sends a refund block).
    Anything without an invoice or with an unknown status is ``ignored``.

    :raises UnreadableOutcome: a SUCCESS whose ``order.amount`` is missing, unreadable or
        not positive (it is never applied without an amount).
    """
    invoice = _get(body, "order", "invoice_number")
    status = str(_get(body, "transaction", "status") or "").strip().upper()
    kind = event_type(status, retries_allowed)
    original = _get(body, "transaction", "original_request_id")
    if not invoice or kind is None:
        return GatewayEvent(event_id=event_id(str(invoice or "unknown"), status or "NONE",
                                              original and str(original)),
                            type=EVENT_IGNORED, raw_status=status)
    invoice = str(invoice)
    amount = _money(_get(body, "order", "amount"))
    if kind == EVENT_SUCCEEDED and (amount is None or amount.amount <= 0):
        raise UnreadableOutcome(
            f"DOKU reports invoice {invoice} paid (SUCCESS) but its order.amount "
            f"{_get(body, 'order', 'amount')!r} cannot be read as rupiah")
    fields: dict[str, Any] = {
        "event_id": event_id(invoice, status, original and str(original)),
        "type": kind,
        "raw_status": status,
        "payment_id": invoice,
        "gateway_reference": invoice,
        "amount": amount,
        "details": channel_details(body),
        "occurred_at": _when(_get(body, "transaction", "date")),
    }
    if status == "FAILED" and kind in (EVENT_FAILED, EVENT_PENDING):
        # A declined attempt: final (payment.failed) or, while the checkout is still open,
        # the payer's "last attempt declined" message on a pending event.
        fields["failure_message"], fields["failure_code"], fields["failure_category"] = \
            _failure(body)
    elif kind == EVENT_EXPIRED:
        fields["failure_message"] = "The DOKU payment deadline passed before the payer paid"
        fields["failure_code"] = status
        fields["failure_category"] = "expired"
    elif kind == EVENT_REFUNDED:
        # DOKU's refund id (what the refund hook returned as refund_reference) when the body
        # has a refund block; otherwise the payment's original Request-Id, so the event
        # still names a refund. Without a refund block there is no amount either: the core
        # then records nothing from this event (see README, Refunds).
        reference = str(_get(body, "refund", "id") or original or invoice)
        fields["amount"] = _money(_get(body, "refund", "amount"))
        fields["refund_reference"] = reference
        fields["event_id"] = f"{fields['event_id']}:{reference}"
    return GatewayEvent(**fields)


def event_for(config: GatewayConfig, body: Any) -> GatewayEvent:
    """:func:`event_from_body` for ``config``: FAILED is final only when the configuration
    creates checkouts with retries disabled (:func:`checkout.retries_disabled`), and
    ``payment_id`` is the payment number only for one of this configuration's invoices
    (:func:`checkout.payment_number`); an invoice from before invoices were scoped is named
    by ``gateway_reference`` alone, as its payment's gateway reference is that invoice."""
    event = event_from_body(body, retries_allowed=not retries_disabled(config))
    if event.gateway_reference is None:
        return event
    return attrs.evolve(event, payment_id=payment_number(event.gateway_reference,
                                                         scope_tag(config)))


def notification_target(config: GatewayConfig, request: WebhookRequest) -> str:
    """The ``Request-Target`` DOKU signed: the path of the notification URL loket gave it
    (``config.webhook_url``, base URL path included), else ``config.webhook_path``."""
    return (urlsplit(config.webhook_url).path if config.webhook_url else "") \
        or config.webhook_path or request.path


def parse(config: GatewayConfig, request: WebhookRequest) -> list[GatewayEvent]:
    """Verify a notification and return its event.

    :raises WebhookRejected: missing headers, another Client-Id, a wrong signature, a
        body that is not JSON, or a SUCCESS whose amount cannot be read (logged; DOKU
        retries, and the delivery stays visible as rejected).
    """
    headers = {k.lower(): v for k, v in request.headers.items()}
    missing = [h for h in ("client-id", "request-id", "request-timestamp", "signature")
               if not headers.get(h)]
    if missing:
        raise WebhookRejected(f"DOKU notification lacks headers: {', '.join(missing)}")
    if headers["client-id"] != config.credentials.get("client_id"):
        raise WebhookRejected("DOKU notification is for another Client-Id")
    if not signature.verify(config.credentials.get("secret_key", ""), headers,
                            notification_target(config, request), request.body):
        raise WebhookRejected("DOKU notification signature does not match")
    try:
        body = decode(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookRejected("DOKU notification body is not JSON") from exc
    try:
        return [event_for(config, body)]
    except UnreadableOutcome as exc:
        log.warning("DOKU notification refused, not applied: %s", exc)
        raise WebhookRejected(str(exc)) from exc
