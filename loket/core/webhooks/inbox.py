"""The webhook inbox: nothing a gateway tells loket is lost, nothing is applied twice.

1. Every request is stored (raw body, headers, configuration, time, verdict) in its own
   transaction before anything else happens — also the ones refused.
2. The gateway's parse hook verifies and normalizes it; a rejected request (bad signature,
   stale timestamp), an unknown endpoint token or an oversized body is answered 4xx and
   changes nothing else.
3. Each event is stored under a unique (configuration, event id) key — the database refuses
   a duplicate — and only then is the request acknowledged.
4. Events are applied through the engine. A failure leaves the event ``pending`` with a
   backoff (:func:`backoff`); after ``AppConfig.webhook_max_attempts`` it is ``dead`` and a
   to-do for staff carries the error. ``loket webhooks replay`` (or the API) puts it back.
5. An event naming a payment loket does not know (yet) — the gateway was faster than the
   checkout's commit, or the payment was made outside loket — is not an error: it waits
   (retried every few seconds, then minutes; attempts are not counted) and is applied as
   soon as the payment exists. After :data:`ORPHAN_AFTER` it becomes ``orphan`` with a
   to-do; it is kept and can be replayed.

Event statuses: ``pending`` (to apply), ``processed``, ``ignored`` (the gateway's event needs
no action), ``dead`` (failed every attempt), ``orphan`` (no such payment). The retry sweep
(:func:`retry_due`) is run every minute by the worker and once when a worker starts, so an
event whose worker died mid-way is applied after the restart: the inbox, not the job
queue, is the source of truth.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

import attrs
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from loket.core import audit

from loket.core.webhooks import outcomes
from loket.core.gateway_configs.configs import config_value
from loket.core.models import GatewayConfiguration, GatewayEventRow, WebhookDelivery
from loket.money import Money
from loket.core.payments.posting import raise_todo
from loket.errors import NotFound, WebhookRejected
from loket.ops import logs, metrics
from loket.types import GatewayEvent, WebhookRequest, json_safe

log = logging.getLogger(__name__)

TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
KEPT_HEADERS_MAX = 40
ORPHAN_AFTER = dt.timedelta(hours=24)
"""How long an event naming an unknown payment is retried before it becomes ``orphan``."""
WAIT_MIN = dt.timedelta(seconds=15)
WAIT_MAX = dt.timedelta(minutes=10)
STATUSES = ("pending", "processed", "ignored", "dead", "orphan")


class _UnknownPayment(Exception):
    """The event names a payment loket does not have (yet)."""


@attrs.frozen
class Receipt:
    """What the webhook endpoint answers: an HTTP status and a small JSON body."""

    status: int
    body: dict


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite gives naive datetimes back; loket stores UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.timezone.utc)


def receive(ctx, kind: str, token: str, body: bytes, headers: dict, path: str,
            process: bool = True) -> Receipt:
    """Take one webhook request: store, verify, deduplicate, then (optionally) apply.

    Called by the webhook endpoint for every request. Safe to call concurrently with the
    same body: the database's unique key lets one copy in.

    :param process: apply the new events at once (the retry sweep picks up failures).
    :returns: the answer for the gateway: 2xx only once the events are stored; 4xx for a
        request that will never be good (unknown endpoint, bad signature, too large); 503
        for a failure on loket's side, so the gateway retries.
    """
    all_headers = {str(k).lower(): v for k, v in headers.items()}
    kept = dict(list(all_headers.items())[:KEPT_HEADERS_MAX])  # what the inbox stores
    now = ctx.now()
    # Only installed gateway kinds become metric labels: the path is the sender's choice.
    label = kind if kind in ctx.plugins.gateways else "unknown"
    if not TOKEN_PATTERN.fullmatch(token or "") or len(kind) > 40:
        log.warning("webhook for a malformed endpoint refused")
        metrics.observe_webhook_delivery(label, "unknown-endpoint")
        return Receipt(404, {"error": "unknown webhook endpoint"})
    with ctx.transaction() as session:
        row = session.scalar(select(GatewayConfiguration).where(
            GatewayConfiguration.webhook_token == token, GatewayConfiguration.kind == kind))
        too_large = len(body) > ctx.config.max_body_bytes
        delivery = WebhookDelivery(
            tenant_id=row.tenant_id if row else None,
            gateway_configuration_id=row.id if row else None, path=path[:300], headers=kept,
            body=b"" if too_large else body, received_at=now,
            verdict="unknown-endpoint" if row is None else ("too-large" if too_large
                                                            else "pending"),
        )
        session.add(delivery)
        session.flush()
        delivery_id = delivery.id
        config_id = row.id if row else None
        tenant_id = row.tenant_id if row else None
    logs.bind(tenant=tenant_id, gateway=label, delivery=delivery_id)
    if config_id is None:
        log.warning("webhook for unknown endpoint %s (delivery %s)", kind, delivery_id)
        metrics.observe_webhook_delivery(label, "unknown-endpoint")
        return Receipt(404, {"error": "unknown webhook endpoint"})
    if too_large:
        log.warning("webhook body over %s bytes refused (delivery %s)",
                    ctx.config.max_body_bytes, delivery_id)
        metrics.observe_webhook_delivery(label, "too-large")
        return Receipt(413, {"error": "body too large"})
    try:  # the request is stored; anything failing from here on is loket's problem
        with ctx.transaction() as session:
            config = config_value(ctx, session, session.get(GatewayConfiguration, config_id))
    except Exception as exc:  # noqa: BLE001 - kept, answered so the gateway retries
        _set_verdict(ctx, delivery_id, "config-error", f"{type(exc).__name__}: {exc}")
        log.exception("webhook configuration unusable (delivery %s)", delivery_id)
        metrics.observe_webhook_delivery(label, "config-error")
        return Receipt(503, {"error": "temporarily unable to process webhooks"})

    request = WebhookRequest(body=body, headers=all_headers, path=path, received_at=now)
    try:
        events = ctx.plugins.parse_webhook(config, request)
        _check_events(events)
    except WebhookRejected as exc:
        _set_verdict(ctx, delivery_id, "rejected", exc.detail)
        log.warning("webhook rejected (delivery %s): %s", delivery_id, exc.detail)
        metrics.observe_webhook_delivery(label, "rejected")
        return Receipt(400, {"error": exc.detail})
    except Exception as exc:  # noqa: BLE001 - e.g. the gateway unreachable while parsing
        _set_verdict(ctx, delivery_id, "parse-error", f"{type(exc).__name__}: {exc}")
        log.exception("webhook could not be parsed (delivery %s)", delivery_id)
        metrics.observe_webhook_delivery(label, "parse-error")
        return Receipt(503, {"error": "temporarily unable to process this webhook"})

    if len(events) == 1:
        logs.bind(event_id=events[0].event_id, payment=events[0].payment_id)
    elif events:
        logs.bind(event_ids=[e.event_id for e in events])
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
            if not _already_stored(ctx, config_id, event.event_id):
                raise
            duplicates += 1
    verdict = "accepted" if new_ids or not events else "duplicate"
    _set_verdict(ctx, delivery_id, verdict, None)
    metrics.observe_webhook_delivery(label, verdict)
    log.info("webhook %s: %d event(s), %d new, %d duplicate(s)", verdict, len(events),
             len(new_ids), duplicates)
    if process:
        for event_row_id in new_ids:
            process_event(ctx, event_row_id)
    return Receipt(200, {"received": len(events), "new": len(new_ids), "duplicates": duplicates})


def _check_events(events) -> None:
    """Refuse what the inbox could not store or dedupe: a missing or over-long event id or
    reference (a plugin bug or a hostile body), before anything is written."""
    limits = {"event_id": 200, "payment_id": 200, "gateway_reference": 200}
    for event in events:
        if not isinstance(event.event_id, str) or not event.event_id:
            raise WebhookRejected("an event without an id cannot be deduplicated")
        for field, limit in limits.items():
            value = getattr(event, field)
            if value is not None and (not isinstance(value, str) or len(value) > limit
                                      or "\x00" in value):
                raise WebhookRejected(f"event {field} is not a string of at most {limit} "
                                      f"characters")


def _already_stored(ctx, config_id: int, event_id: str) -> bool:
    with ctx.transaction() as session:
        return session.scalar(select(GatewayEventRow.id).where(
            GatewayEventRow.gateway_configuration_id == config_id,
            GatewayEventRow.event_id == event_id)) is not None


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
    """Delay before the next attempt after ``attempts`` failures: 30 s, 1 min, 2 min …
    capped at 1 h."""
    return dt.timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def _wait_delay(waited: dt.timedelta) -> dt.timedelta:
    """Retry delay for an event whose payment is not there yet: half the time waited so
    far, between 15 s and 10 min."""
    return max(WAIT_MIN, min(WAIT_MAX, waited / 2))


def process_event(ctx, event_row_id: int, due_only: bool = False) -> str:
    """Apply one stored event. Idempotent: an event that is not ``pending`` (or, with
    ``due_only``, not yet due) is left alone, and the row lock lets one worker at a time in.

    A failure rolls back everything the event changed (a savepoint), and is recorded on
    the event in the same transaction, so two workers cannot both count it. The event's
    id, payment and tenant are bound to the log lines written meanwhile.

    :returns: the event's resulting status: processed, pending (will retry), dead or orphan.
    """
    with logs.scope():
        return _process_event(ctx, event_row_id, due_only)


def _process_event(ctx, event_row_id: int, due_only: bool) -> str:
    try:
        with ctx.transaction() as session:
            row = session.scalars(select(GatewayEventRow).where(
                GatewayEventRow.id == event_row_id).with_for_update()
                .execution_options(populate_existing=True)).one()
            logs.bind(event_id=row.event_id, payment=row.payment_number, tenant=row.tenant_id)
            if row.status != "pending":
                return row.status
            now = ctx.now()
            if due_only and row.next_attempt_at and _aware(row.next_attempt_at) > now:
                return row.status
            callbacks = session.info.setdefault("after_commit", [])
            mark = len(callbacks)
            try:
                with session.begin_nested():
                    config_row = session.get(GatewayConfiguration, row.gateway_configuration_id)
                    result = outcomes.apply_event(ctx, session, config_row,
                                                  event_from_payload(row.payload))
                    if result == outcomes.UNKNOWN_PAYMENT:
                        raise _UnknownPayment()
            except _UnknownPayment:
                del callbacks[mark:]
                return _wait_for_payment(session, row, now)
            except Exception as exc:  # noqa: BLE001 - any failure is retried, then to staff
                del callbacks[mark:]
                return _failed(ctx, session, row, exc)
            row.status = "processed"
            row.processed_at = now
            row.attempts += 1
            row.last_error = None
            row.next_attempt_at = None
            metrics.observe_event_applied(config_row.kind, _aware(row.received_at), now)
            log.info("gateway event %s applied: %s", row.event_id, result)
            return row.status
    except Exception as exc:  # noqa: BLE001 - the transaction itself failed (database down)
        log.warning("gateway event %s: transaction failed: %s", event_row_id, exc)
        try:
            with ctx.transaction() as session:
                row = session.get(GatewayEventRow, event_row_id, with_for_update=True)
                if row is None or row.status != "pending":
                    return row.status if row else "missing"
                return _failed(ctx, session, row, exc)
        except Exception:  # noqa: BLE001 - still down: the event stays pending, due
            log.exception("gateway event %s: failure could not be recorded", event_row_id)
            return "pending"


def _message(exc: Exception) -> str:
    detail = getattr(exc, "detail", None)
    return detail if isinstance(detail, str) else f"{type(exc).__name__}: {exc}"


def _failed(ctx, session, row: GatewayEventRow, exc: Exception) -> str:
    message = _message(exc)
    log.warning("gateway event %s (%s) failed: %s", row.id, row.event_id, message)
    row.attempts += 1
    row.last_error = message[:4000]
    if row.attempts >= ctx.config.webhook_max_attempts:
        row.status = "dead"
        row.next_attempt_at = None
        raise_todo(session, row.tenant_id, "webhook.dead",
                   f"Gateway event {row.event_id} could not be applied after "
                   f"{row.attempts} attempts", detail=message,
                   entity_type="gateway_event", entity_id=str(row.id),
                   dedupe_key=f"webhook-dead:{row.id}:{ctx.now().isoformat()}")
    else:
        row.next_attempt_at = ctx.now() + backoff(row.attempts)
    return row.status


def _wait_for_payment(session, row: GatewayEventRow, now: dt.datetime) -> str:
    waited = now - _aware(row.received_at)
    named = row.payment_number or row.gateway_reference
    if waited >= ORPHAN_AFTER:
        row.status = "orphan"
        row.next_attempt_at = None
        row.last_error = f"no payment {named!r} in loket after {ORPHAN_AFTER}"
        raise_todo(session, row.tenant_id, "webhook.unknown_payment",
                   f"Gateway event {row.event_id} names payment {named!r}, which loket "
                   f"does not have", detail="The payment may have been made outside loket. "
                   "Replay the event once the payment exists.",
                   entity_type="gateway_event", entity_id=str(row.id),
                   dedupe_key=f"webhook-orphan:{row.id}:{now.isoformat()}")
    else:
        row.last_error = f"waiting for payment {named!r}"
        row.next_attempt_at = now + _wait_delay(waited)
    return row.status


def due_events(ctx, limit: int = 100) -> list[int]:
    """Ids of pending events whose next attempt is due (for the retry sweep)."""
    with ctx.transaction() as session:
        return list(session.scalars(select(GatewayEventRow.id).where(
            GatewayEventRow.status == "pending",
            GatewayEventRow.next_attempt_at <= ctx.now()).order_by(GatewayEventRow.id)
            .limit(limit)))


def retry_due(ctx, limit: int = 100) -> dict[str, int]:
    """Apply every due pending event once (the worker's sweep; idempotent).

    :returns: how many events ended in each status.
    """
    counts: dict[str, int] = {}
    for event_row_id in due_events(ctx, limit):
        status = process_event(ctx, event_row_id, due_only=True)
        counts[status] = counts.get(status, 0) + 1
    return counts


def replay(ctx, event_row_id: int, actor: audit.Actor = audit.SYSTEM,
           tenant_id: int | None = None) -> str:
    """Put an event back in the queue and apply it now (staff action; audited).

    A processed event replayed changes nothing: the payment already knows the fact. An
    orphan replayed before its payment exists becomes orphan again at once.

    :param tenant_id: when given, an event of another tenant is not found.
    :raises NotFound: no such event (for this tenant).
    """
    with ctx.transaction() as session:
        row = session.get(GatewayEventRow, event_row_id, with_for_update=True)
        if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
            raise NotFound(f"no gateway event {event_row_id}")
        before = {"status": row.status, "attempts": row.attempts}
        row.status = "pending"
        row.attempts = 0
        row.next_attempt_at = ctx.now()
        audit.record(session, actor, "webhook.replayed", "gateway_event", row.id,
                     before=before, after={"status": "pending"}, tenant_id=row.tenant_id)
    return process_event(ctx, event_row_id)


def event_summary(row: GatewayEventRow) -> dict:
    """The list view of a stored event."""
    return {"id": row.id, "tenant_id": row.tenant_id,
            "gateway_configuration_id": row.gateway_configuration_id,
            "event_id": row.event_id, "type": row.event_type,
            "payment_id": row.payment_number, "gateway_reference": row.gateway_reference,
            "status": row.status, "attempts": row.attempts, "last_error": row.last_error,
            "received_at": _aware(row.received_at),
            "next_attempt_at": _aware(row.next_attempt_at),
            "processed_at": _aware(row.processed_at)}


def list_events(ctx, tenant_id: int | None = None, status: str | None = None,
                limit: int = 50, before_id: int | None = None) -> list[dict]:
    """Stored events, newest first, for ``loket webhooks list`` and the API.

    :param before_id: page on: only events with a smaller id.
    """
    query = select(GatewayEventRow).order_by(GatewayEventRow.id.desc()).limit(limit)
    if tenant_id is not None:
        query = query.where(GatewayEventRow.tenant_id == tenant_id)
    if status is not None:
        query = query.where(GatewayEventRow.status == status)
    if before_id is not None:
        query = query.where(GatewayEventRow.id < before_id)
    with ctx.transaction() as session:
        return [event_summary(r) for r in session.scalars(query)]


def show_event(ctx, event_row_id: int, tenant_id: int | None = None) -> dict:
    """One event with its normalized payload and the request it came in (headers, body).

    :raises NotFound: no such event (for this tenant).
    """
    with ctx.transaction() as session:
        row = session.get(GatewayEventRow, event_row_id)
        if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
            raise NotFound(f"no gateway event {event_row_id}")
        out = event_summary(row)
        out["payload"] = row.payload
        delivery = session.get(WebhookDelivery, row.delivery_id) if row.delivery_id else None
        if delivery is not None:
            out["delivery"] = {"id": delivery.id, "path": delivery.path,
                               "headers": delivery.headers, "verdict": delivery.verdict,
                               "received_at": _aware(delivery.received_at),
                               "body": delivery.body.decode("utf-8", "replace")}
        return out


def counts_by_status(ctx, tenant_id: int | None = None) -> dict[str, int]:
    """How many events are in each status (for health and dashboards)."""
    query = select(GatewayEventRow.status, func.count()).group_by(GatewayEventRow.status)
    if tenant_id is not None:
        query = query.where(GatewayEventRow.tenant_id == tenant_id)
    with ctx.transaction() as session:
        return {status: count for status, count in session.execute(query)}
