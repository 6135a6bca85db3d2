"""The webhook inbox: nothing a gateway tells loket is lost, nothing is applied twice.

1. Every request is stored (raw body, headers, configuration, time) in its own transaction
   before anything else happens.
2. The gateway's parse hook verifies and normalizes it; a rejected request is answered 4xx
   and changes nothing else.
3. Each event is stored under a unique (configuration, event id) key — the database refuses
   a duplicate — and only then is the request acknowledged.
4. Events are applied through the engine; a failure (or a payment that does not exist yet)
   leaves the event pending for retry with backoff; after the last attempt it becomes a
   to-do for staff.
"""

from __future__ import annotations

import datetime as dt
import logging

import attrs
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from loket.core import outcomes
from loket.core.gateways import config_value
from loket.core.models import GatewayConfiguration, GatewayEventRow, WebhookDelivery
from loket.core.money import Money
from loket.core.payments import raise_todo
from loket.errors import LoketError, NotFound, WebhookRejected
from loket.types import GatewayEvent, WebhookRequest, json_safe

log = logging.getLogger(__name__)

KEPT_HEADERS_MAX = 40


@attrs.frozen
class Receipt:
    """What the webhook endpoint answers: an HTTP status and a small JSON body."""

    status: int
    body: dict


def receive(ctx, kind: str, token: str, body: bytes, headers: dict, path: str,
            process: bool = True) -> Receipt:
    """Take one webhook request: store, verify, deduplicate, then (optionally) apply.

    :param process: apply the new events at once (the retry job picks up failures).
    :returns: the answer for the gateway (2xx only once the events are stored).
    """
    headers = {k.lower(): v for k, v in list(headers.items())[:KEPT_HEADERS_MAX]}
    now = ctx.now()
    with ctx.transaction() as session:
        row = session.scalar(select(GatewayConfiguration).where(
            GatewayConfiguration.webhook_token == token, GatewayConfiguration.kind == kind))
        too_large = len(body) > ctx.config.max_body_bytes
        delivery = WebhookDelivery(
            tenant_id=row.tenant_id if row else None,
            gateway_configuration_id=row.id if row else None, path=path, headers=headers,
            body=b"" if too_large else body, received_at=now,
            verdict="unknown-endpoint" if row is None else ("too-large" if too_large
                                                            else "pending"),
        )
        session.add(delivery)
        session.flush()
        delivery_id = delivery.id
        config = None
        if row is not None and not too_large:
            config = config_value(ctx, session, row)
        config_id = row.id if row else None
        tenant_id = row.tenant_id if row else None
    if config_id is None:
        log.warning("webhook for unknown endpoint %s/%s (delivery %s)", kind, token[:6], delivery_id)
        return Receipt(404, {"error": "unknown webhook endpoint"})
    if config is None:
        log.warning("webhook body over %s bytes refused (delivery %s)",
                    ctx.config.max_body_bytes, delivery_id)
        return Receipt(413, {"error": "body too large"})

    request = WebhookRequest(body=body, headers=headers, path=path, received_at=now)
    try:
        events = ctx.plugins.parse_webhook(config, request)
    except WebhookRejected as exc:
        _set_verdict(ctx, delivery_id, "rejected", exc.detail)
        log.warning("webhook rejected (delivery %s): %s", delivery_id, exc.detail)
        return Receipt(400, {"error": exc.detail})

    new_ids, duplicates = [], 0
    for event in events:
        try:
            with ctx.transaction() as session:
                stored = GatewayEventRow(
                    tenant_id=tenant_id, gateway_configuration_id=config_id,
                    delivery_id=delivery_id, event_id=event.event_id, event_type=event.type,
                    payment_number=event.payment_id, gateway_reference=event.gateway_reference,
                    payload=json_safe(event), received_at=now, next_attempt_at=now,
                    status="ignored" if event.type == "ignored" else "pending")
                session.add(stored)
                session.flush()
                new_ids.append(stored.id)
        except IntegrityError:
            duplicates += 1
    _set_verdict(ctx, delivery_id, "accepted" if new_ids or not events else "duplicate", None)
    if process:
        for event_row_id in new_ids:
            process_event(ctx, event_row_id)
    return Receipt(200, {"received": len(events), "new": len(new_ids), "duplicates": duplicates})


def _set_verdict(ctx, delivery_id: int, verdict: str, error: str | None) -> None:
    with ctx.transaction() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        delivery.verdict = verdict
        delivery.error = error


def event_from_payload(payload: dict) -> GatewayEvent:
    """Rebuild a :class:`GatewayEvent` from its stored JSON."""
    data = dict(payload)
    if data.get("amount"):
        data["amount"] = Money(data["amount"]["amount"], data["amount"]["currency"])
    if data.get("occurred_at"):
        data["occurred_at"] = dt.datetime.fromisoformat(data["occurred_at"])
    return GatewayEvent(**data)


def backoff(attempts: int) -> dt.timedelta:
    """Delay before the next attempt: 30 s, 1 min, 2 min … capped at 1 h."""
    return dt.timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def process_event(ctx, event_row_id: int) -> str:
    """Apply one stored event (idempotent: a processed event is not applied again).

    :returns: the event row's resulting status: processed, pending (will retry) or dead.
    """
    try:
        with ctx.transaction() as session:
            row = session.scalars(select(GatewayEventRow).where(
                GatewayEventRow.id == event_row_id).with_for_update()
                .execution_options(populate_existing=True)).one()
            if row.status != "pending":
                return row.status
            config_row = session.get(GatewayConfiguration, row.gateway_configuration_id)
            result = outcomes.apply_event(ctx, session, config_row,
                                          event_from_payload(row.payload))
            if result == outcomes.UNKNOWN_PAYMENT:
                raise LoketError(f"no payment {row.payment_number or row.gateway_reference!r} "
                                 f"(yet)")
            row.status = "processed"
            row.processed_at = ctx.now()
            row.attempts += 1
            return row.status
    except Exception as exc:  # noqa: BLE001 - any failure is retried, then handed to staff
        return _record_failure(ctx, event_row_id, exc)


def _record_failure(ctx, event_row_id: int, exc: Exception) -> str:
    message = exc.detail if isinstance(exc, LoketError) else f"{type(exc).__name__}: {exc}"
    log.warning("gateway event %s failed: %s", event_row_id, message)
    with ctx.transaction() as session:
        row = session.get(GatewayEventRow, event_row_id, with_for_update=True)
        row.attempts += 1
        row.last_error = message
        if row.attempts >= ctx.config.webhook_max_attempts:
            row.status = "dead"
            row.next_attempt_at = None
            raise_todo(session, row.tenant_id, "webhook.dead",
                       f"Gateway event {row.event_id} could not be applied after "
                       f"{row.attempts} attempts", detail=message,
                       entity_type="gateway_event", entity_id=str(row.id),
                       dedupe_key=f"webhook-dead:{row.id}")
        else:
            row.next_attempt_at = ctx.now() + backoff(row.attempts)
        return row.status


def due_events(ctx, limit: int = 100) -> list[int]:
    """Ids of pending events whose next attempt is due (for the retry job)."""
    with ctx.transaction() as session:
        return list(session.scalars(select(GatewayEventRow.id).where(
            GatewayEventRow.status == "pending",
            GatewayEventRow.next_attempt_at <= ctx.now()).order_by(GatewayEventRow.id)
            .limit(limit)))


def replay(ctx, event_row_id: int) -> str:
    """Put a dead or processed event back in the queue and apply it now (staff action)."""
    with ctx.transaction() as session:
        row = session.get(GatewayEventRow, event_row_id, with_for_update=True)
        if row is None:
            raise NotFound(f"no gateway event {event_row_id}")
        row.status = "pending"
        row.attempts = 0
        row.next_attempt_at = ctx.now()
    return process_event(ctx, event_row_id)
