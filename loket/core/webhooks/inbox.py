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
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from loket.core import audit
from loket.core.autopay import mandates
from loket.core.gateway_configs.configs import config_value
from loket.core.models import GatewayConfiguration, GatewayEventRow, WebhookDelivery
from loket.core.payments.posting import raise_todo
from loket.core.states import EventStatus
from loket.core.text import printable, unstorable_paths
from loket.core.webhooks import outcomes, unknown_endpoints
from loket.errors import NotFound, WebhookRejected
from loket.money import Money
from loket.ops import logs, metrics
from loket.types import EventType, GatewayEvent, WebhookRequest, json_safe

log = logging.getLogger(__name__)

TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
KEPT_HEADERS_MAX = 40
ORPHAN_AFTER = dt.timedelta(hours=24)
"""How long an event naming an unknown payment is retried before it becomes ``orphan``."""
WAIT_MIN = dt.timedelta(seconds=15)
WAIT_MAX = dt.timedelta(minutes=10)


class _UnknownPayment(Exception):
    """The event names a payment loket does not have (yet)."""


@attrs.frozen
class Receipt:
    """What the webhook endpoint answers: an HTTP status and a small JSON body."""

    status: int
    body: dict


def receive(ctx, kind: str, token: str, body: bytes, headers: dict, path: str,
            process: bool = True, source: str | None = None) -> Receipt:
    """Take one webhook request: store, verify, deduplicate, then (optionally) apply.

    Called by the webhook endpoint for every request. Safe to call concurrently with the
    same body: the database's unique key lets one copy in.

    :param process: apply the new events at once (the retry sweep picks up failures).
    :param source: the sender's address (kept only in the unknown-endpoint sample).
    :returns: the answer for the gateway: 2xx only once the events are stored; 4xx for a
        request that will never be good (unknown endpoint, bad signature, malformed body,
        too large); 503 for a failure on loket's side, so the gateway retries.
    """
    all_headers = {str(k).lower(): v for k, v in headers.items()}
    kept = dict(list(all_headers.items())[:KEPT_HEADERS_MAX])  # what the inbox stores
    now = ctx.now()
    # Only installed gateway kinds become metric labels: the path is the sender's choice.
    label = kind if kind in ctx.plugins.gateways else "unknown"
    if not TOKEN_PATTERN.fullmatch(token or "") or len(kind) > 40:
        unknown_endpoints.count(ctx, kind[:40], source, len(body))
        log.warning("webhook for a malformed %s endpoint refused", kind[:40])
        metrics.observe_webhook_delivery(label, "unknown-endpoint")
        return Receipt(404, {"error": "unknown webhook endpoint"})
    with ctx.transaction() as session:
        row = session.scalar(select(GatewayConfiguration).where(
            GatewayConfiguration.webhook_token == token, GatewayConfiguration.kind == kind))
        if row is None:
            delivery_id = None
        else:
            too_large = len(body) > ctx.config.max_body_bytes
            delivery = WebhookDelivery(
                tenant_id=row.tenant_id, gateway_configuration_id=row.id, path=path[:300],
                headers=kept, body=b"" if too_large else body, received_at=now,
                verdict="too-large" if too_large else "pending")
            session.add(delivery)
            session.flush()
            delivery_id = delivery.id
            config_id, tenant_id = row.id, row.tenant_id
    if delivery_id is None:  # anyone can send these: counted, never stored
        metrics.observe_webhook_delivery(label, "unknown-endpoint")
        total = unknown_endpoints.count(ctx, kind, source, len(body))
        log.warning("webhook for an unknown %s endpoint refused (%s today)", kind, total)
        return Receipt(404, {"error": "unknown webhook endpoint"})
    logs.bind(tenant=tenant_id, gateway=label, delivery=delivery_id)
    if too_large:
        log.warning("webhook body over %s bytes refused (delivery %s)",
                    ctx.config.max_body_bytes, delivery_id)
        metrics.observe_webhook_delivery(label, "too-large")
        return Receipt(413, {"error": "body too large"})
    return _process_delivery(ctx, delivery_id, config_id, tenant_id,
                             WebhookRequest(body=body, headers=all_headers, path=path,
                                            received_at=now), process)


_BODY_FAULTS = (ValueError, TypeError, KeyError, IndexError, AttributeError, LookupError,
                RecursionError, UnicodeError)
"""What a parse hook raises on a body that can never parse (a list, ``null``, a string
where an object belongs, nesting deeper than any parser goes): answered 400, not retried."""


def _process_delivery(ctx, delivery_id: int, config_id: int, tenant_id: int,
                      request: WebhookRequest, process: bool) -> Receipt:
    """Verify, normalize and store the events of a stored delivery (the second half of
    :func:`receive`, and what :func:`resume_interrupted` runs again)."""
    label = "unknown"
    try:  # the request is stored; anything failing from here on is loket's problem
        with ctx.transaction() as session:
            config = config_value(ctx, session, session.get(GatewayConfiguration, config_id))
        label = config.kind
    except Exception as exc:  # noqa: BLE001 - kept, answered so the gateway retries
        _set_verdict(ctx, delivery_id, "config-error", f"{type(exc).__name__}: {exc}")
        log.exception("webhook configuration unusable (delivery %s)", delivery_id)
        metrics.observe_webhook_delivery(label, "config-error")
        return Receipt(503, {"error": "temporarily unable to process webhooks"})

    try:
        events = ctx.plugins.parse_webhook(config, request)
        _check_events(events)
    except WebhookRejected as exc:
        _set_verdict(ctx, delivery_id, "rejected", exc.detail)
        log.warning("webhook rejected (delivery %s): %s", delivery_id, exc.detail)
        metrics.observe_webhook_delivery(label, "rejected")
        return Receipt(400, {"error": exc.detail})
    except _BODY_FAULTS as exc:
        message = f"{type(exc).__name__}: {str(exc)[:300]}"
        _set_verdict(ctx, delivery_id, "parse-error", message)
        log.warning("webhook body cannot be parsed (delivery %s): %s", delivery_id, message)
        return Receipt(400, {"error": "the webhook body cannot be parsed"})
    except Exception as exc:  # noqa: BLE001 - e.g. the gateway unreachable while parsing
        _set_verdict(ctx, delivery_id, "parse-error", f"{type(exc).__name__}: {exc}")
        log.exception("webhook could not be parsed (delivery %s)", delivery_id)
        metrics.observe_webhook_delivery(label, "parse-error")
        return Receipt(503, {"error": "temporarily unable to process this webhook"})

    if len(events) == 1:
        logs.bind(event_id=events[0].event_id, payment=events[0].payment_id)
    elif events:
        logs.bind(event_ids=[e.event_id for e in events])
    try:
        mandate_events = ctx.plugins.parse_mandate_events(config, request)
        mandates.apply_events(ctx, config_id, mandate_events)
    except WebhookRejected as exc:
        _set_verdict(ctx, delivery_id, "rejected", exc.detail)
        return Receipt(400, {"error": exc.detail})
    except Exception as exc:  # noqa: BLE001 - kept, answered so the gateway retries
        _set_verdict(ctx, delivery_id, "parse-error", f"{type(exc).__name__}: {exc}")
        log.exception("mandate events could not be applied (delivery %s)", delivery_id)
        return Receipt(503, {"error": "temporarily unable to process this webhook"})

    new_ids, duplicates = [], 0
    for event in events:
        try:
            with ctx.transaction() as session:
                stored = GatewayEventRow(
                    tenant_id=tenant_id, gateway_configuration_id=config_id,
                    delivery_id=delivery_id, event_id=event.event_id, event_type=event.type,
                    payment_number=event.payment_id, gateway_reference=event.gateway_reference,
                    payload=json_safe(event), received_at=request.received_at,
                    next_attempt_at=request.received_at,
                    status=(EventStatus.IGNORED if event.type == EventType.IGNORED
                            else EventStatus.PENDING))
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


INTERRUPTED_AFTER = dt.timedelta(minutes=1)
"""A delivery still without a verdict this long after it arrived was interrupted (its
process died between storing it and storing its events)."""


def resume_interrupted(ctx, limit: int = 100) -> dict[str, int]:
    """Run stored deliveries that never got a verdict through verification and event
    storage again (the worker's sweep, every minute; idempotent: events already stored are
    duplicates). The gateway's own checks apply as on arrival (a signature older than its
    tolerance is then refused and left to the gateway's retry).

    :returns: how many deliveries ended with each HTTP status the gateway would have got.
    """
    cutoff = ctx.now() - INTERRUPTED_AFTER
    with ctx.transaction() as session:
        stuck = session.execute(select(
            WebhookDelivery.id, WebhookDelivery.gateway_configuration_id,
            WebhookDelivery.tenant_id, WebhookDelivery.received_at).where(
            WebhookDelivery.verdict == "pending", WebhookDelivery.received_at < cutoff,
            WebhookDelivery.gateway_configuration_id.is_not(None))
            .order_by(WebhookDelivery.id).limit(limit)).all()
    counts: dict[str, int] = {}
    for delivery_id, config_id, tenant_id, received_at in stuck:
        with ctx.transaction() as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            request = WebhookRequest(body=delivery.body, headers=dict(delivery.headers),
                                     path=delivery.path, received_at=received_at)
        try:
            receipt = _process_delivery(ctx, delivery_id, config_id, tenant_id, request,
                                        process=True)
        except Exception:  # noqa: BLE001 - stays pending for the next sweep
            log.exception("interrupted delivery %s could not be resumed", delivery_id)
            counts["error"] = counts.get("error", 0) + 1
            continue
        log.info("interrupted delivery %s resumed: %s", delivery_id, receipt.status)
        counts[str(receipt.status)] = counts.get(str(receipt.status), 0) + 1
    return counts


def _check_events(events) -> None:
    """Refuse what the inbox could not store or dedupe: a missing or over-long event id or
    reference (a plugin bug or a hostile body), before anything is written."""
    limits = {"event_id": 200, "payment_id": 200, "gateway_reference": 200}
    for event in events:
        bad = unstorable_paths(json_safe(event))
        if bad:
            where = ".".join(str(part) for part in bad[0])
            raise WebhookRejected(f"event field {where} holds text that cannot be stored "
                                  f"(a NUL character or a lone UTF-16 surrogate)")
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
        delivery.error = printable(error)[:4000] if error is not None else None


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
            if row.status != EventStatus.PENDING:
                return row.status
            now = ctx.now()
            if due_only and row.next_attempt_at and row.next_attempt_at > now:
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
            row.status = EventStatus.PROCESSED
            row.processed_at = now
            row.attempts += 1
            row.last_error = None
            row.next_attempt_at = None
            metrics.observe_event_applied(config_row.kind, row.received_at, now)
            log.info("gateway event %s applied: %s", row.event_id, result)
            return row.status
    except Exception as exc:  # noqa: BLE001 - the transaction itself failed (database down)
        log.warning("gateway event %s: transaction failed: %s", event_row_id, exc)
        try:
            with ctx.transaction() as session:
                row = session.get(GatewayEventRow, event_row_id, with_for_update=True)
                if row is None or row.status != EventStatus.PENDING:
                    return row.status if row else "missing"
                return _failed(ctx, session, row, exc)
        except Exception:  # noqa: BLE001 - still down: the event stays pending, due
            log.exception("gateway event %s: failure could not be recorded", event_row_id)
            return EventStatus.PENDING


def _message(exc: Exception) -> str:
    detail = getattr(exc, "detail", None)
    return detail if isinstance(detail, str) else f"{type(exc).__name__}: {exc}"


def _failed(ctx, session, row: GatewayEventRow, exc: Exception) -> str:
    message = _message(exc)
    log.warning("gateway event %s (%s) failed: %s", row.id, row.event_id, message)
    row.attempts += 1
    row.last_error = message[:4000]
    if row.attempts >= ctx.config.webhook_max_attempts:
        row.status = EventStatus.DEAD
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
    waited = now - row.received_at
    named = row.payment_number or row.gateway_reference
    if waited >= ORPHAN_AFTER:
        row.status = EventStatus.ORPHAN
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
            GatewayEventRow.status == EventStatus.PENDING,
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
        row.status = EventStatus.PENDING
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
            "received_at": row.received_at,
            "next_attempt_at": row.next_attempt_at,
            "processed_at": row.processed_at}


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
                               "received_at": delivery.received_at,
                               "body": delivery.body.decode("utf-8", "replace")}
        return out
