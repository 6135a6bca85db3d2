"""The webhook inbox: nothing a gateway tells loket is lost, nothing is applied twice.

1. Every request is stored (raw body, headers, configuration, time) and committed before
   anything else happens (:mod:`loket.core.webhooks.deliveries`) — also the ones refused
   (their verdict too).
2. The gateway's parse hook verifies and normalizes it; a rejected request (bad signature,
   stale timestamp), an unknown endpoint token or an oversized body is answered 4xx and
   changes nothing else.
3. Each event is stored under a unique (configuration, event id) key — the database refuses
   a duplicate — with the request's verdict, and only then is the request acknowledged.
4. The new events are applied through the engine (:mod:`loket.core.webhooks.events`:
   retries, waiting for a payment loket does not have yet, replay) in the transaction
   that stores them; one whose application fails stays ``pending`` for the retry sweep.

A request stored without a verdict (its process died while verifying it) is run again by
:func:`resume_interrupted` (the worker's sweep): the inbox, not the job queue, is the source
of truth.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re

import attrs
from sqlalchemy import bindparam, select, text, update

from loket.core.autopay import mandates
from loket.core.db import insert_if_absent
from loket.core.gateway_configs.configs import config_value
from loket.core.models import (
    GatewayConfiguration,
    GatewayEventRow,
    UTCDateTime,
    WebhookDelivery,
)
from loket.core.settings import remember_settings
from loket.core.states import EventStatus
from loket.core.text import printable, unstorable_paths
from loket.core.webhooks import deliveries, unknown_endpoints
from loket.core.webhooks.events import (  # noqa: F401 - the inbox's public surface
    CHANNEL,
    ORPHAN_AFTER,
    RunAgain,
    apply_due_batch,
    apply_stored,
    applying,
    backoff,
    due_events,
    event_from_payload,
    event_summary,
    list_events,
    process_event,
    replay,
    retry_due,
    show_event,
)
from loket.errors import WebhookRejected
from loket.ops import logs, metrics
from loket.types import EventType, GatewayConfig, GatewayEvent, WebhookRequest, json_safe

log = logging.getLogger(__name__)

TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
KEPT_HEADERS_MAX = 40


@attrs.frozen
class Receipt:
    """What the webhook endpoint answers: an HTTP status and a small JSON body."""

    status: int
    body: dict


def receive(ctx, kind: str, token: str, body: bytes, headers: dict, path: str,
            process: bool = True, source: str | None = None) -> Receipt:
    """Take one webhook request: store, verify, deduplicate, then (optionally) apply.

    Called by the webhook endpoint for every request. Safe to call concurrently with the
    same body: the database's unique key lets one copy in. Two transactions: the request
    stored (with the configuration read), then its events stored and applied with the
    verdict.

    :param process: apply the new events at once (the retry sweep picks up failures).
    :param source: the sender's address (kept only in the unknown-endpoint sample).
    :returns: the answer for the gateway: 2xx only once the events are stored; 4xx for a
        request that will never be good (unknown endpoint, bad signature, malformed body,
        too large); 503 for a failure on loket's side, so the gateway retries.
    """
    all_headers = {str(k).lower(): v for k, v in headers.items()}
    now = ctx.now()
    # Only installed gateway kinds become metric labels: the path is the sender's choice.
    label = kind if kind in ctx.plugins.gateways else "unknown"
    if not TOKEN_PATTERN.fullmatch(token or "") or len(kind) > 40:
        unknown_endpoints.count(ctx, kind[:40], source, len(body))
        log.warning("webhook for a malformed %s endpoint refused", kind[:40])
        metrics.observe_webhook_delivery(label, "unknown-endpoint")
        return Receipt(404, {"error": "unknown webhook endpoint"})
    kept = dict(list(all_headers.items())[:KEPT_HEADERS_MAX])  # what the inbox stores
    stored = deliveries.store(ctx, kind, token, body, kept, path, now)
    if stored is None:  # anyone can send these: counted, never stored
        metrics.observe_webhook_delivery(label, "unknown-endpoint")
        total = unknown_endpoints.count(ctx, kind, source, len(body))
        log.warning("webhook for an unknown %s endpoint refused (%s today)", kind, total)
        return Receipt(404, {"error": "unknown webhook endpoint"})
    logs.bind(tenant=stored.tenant_id, gateway=label, delivery=stored.delivery_id)
    if stored.too_large:
        log.warning("webhook body over %s bytes refused (delivery %s)",
                    ctx.config.max_body_bytes, stored.delivery_id)
        metrics.observe_webhook_delivery(label, "too-large")
        return Receipt(413, {"error": "body too large"})
    return _process_delivery(ctx, stored.delivery_id, stored.config_id, stored.tenant_id,
                             WebhookRequest(body=body, headers=all_headers, path=path,
                                            received_at=now), process, stored.config,
                             stored.known)


_BODY_FAULTS = (ValueError, TypeError, KeyError, IndexError, AttributeError, LookupError,
                RecursionError, UnicodeError)
"""What a parse hook raises on a body that can never parse (a list, ``null``, a string
where an object belongs, nesting deeper than any parser goes): answered 400, not retried."""


def _process_delivery(ctx, delivery_id: int, config_id: int, tenant_id: int,
                      request: WebhookRequest, process: bool,
                      config: GatewayConfig | Exception | None = None,
                      known: deliveries.Known | None = None) -> Receipt:
    """Verify and normalize a stored delivery, then store (and apply) its events (the
    second half of :func:`receive`, and what :func:`resume_interrupted` runs again).

    :param config: the configuration, when the caller read it already.
    :param known: what the caller's transaction read, for the events' transaction.
    """
    if config is None:
        try:
            with ctx.transaction() as session:
                config = config_value(ctx, session, session.get(GatewayConfiguration, config_id))
        except Exception as exc:  # noqa: BLE001 - reported below
            config = exc
    if isinstance(config, Exception):  # the request is stored; this is loket's problem
        _set_verdict(ctx, delivery_id, "config-error", f"{type(config).__name__}: {config}")
        log.error("webhook configuration unusable (delivery %s): %s", delivery_id, config)
        metrics.observe_webhook_delivery("unknown", "config-error")
        return Receipt(503, {"error": "temporarily unable to process webhooks"})
    parsed = _parse(ctx, delivery_id, config, request)
    if isinstance(parsed, Receipt):
        return parsed
    events = parsed
    if len(events) == 1:
        logs.bind(event_id=events[0].event_id, payment=events[0].payment_id)
    elif events:
        logs.bind(event_ids=[e.event_id for e in events])
    try:
        mandate_events = ctx.plugins.parse_mandate_events(config, request)
        if mandate_events:
            mandates.apply_events(ctx, config_id, mandate_events)
    except WebhookRejected as exc:
        _set_verdict(ctx, delivery_id, "rejected", exc.detail)
        return Receipt(400, {"error": exc.detail})
    except Exception as exc:  # noqa: BLE001 - kept, answered so the gateway retries
        _set_verdict(ctx, delivery_id, "parse-error", f"{type(exc).__name__}: {exc}")
        log.exception("mandate events could not be applied (delivery %s)", delivery_id)
        return Receipt(503, {"error": "temporarily unable to process this webhook"})
    return _store_events(ctx, delivery_id, config_id, tenant_id, config.kind, request,
                         events, process, known)


def _parse(ctx, delivery_id: int, config: GatewayConfig, request: WebhookRequest
           ) -> list[GatewayEvent] | Receipt:
    """The gateway's events in the request, or the answer refusing it (its verdict stored)."""
    label = config.kind
    try:
        events = ctx.plugins.parse_webhook(config, request)
        _check_events(events)
        return events
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


_VERDICT = update(WebhookDelivery).where(WebhookDelivery.id == bindparam("delivery_id")).values(
    verdict=bindparam("verdict"), error=None)


def _store_events(ctx, delivery_id: int, config_id: int, tenant_id: int, label: str,
                  request: WebhookRequest, events: list[GatewayEvent],
                  process: bool, known: deliveries.Known | None = None) -> Receipt:
    """Store each event once (a duplicate is refused by the unique key), set the verdict and,
    with ``process``, apply the new events: all in one transaction, so the gateway's 2xx
    means they are stored; an event whose application fails stays ``pending`` (a savepoint
    undoes its changes) and the retry sweep takes it up.

    With ``process`` the transaction first runs optimistically (:func:`events.applying`:
    no savepoints, the invariants checked once at the end); if anything fails it is rolled
    back and runs again as described."""
    if process:
        try:
            return _store_and_apply(ctx, delivery_id, config_id, tenant_id, label, request,
                                    events, True, known)
        except RunAgain as again:
            log.info("webhook events are stored and applied again in savepoints: %s",
                     printable(str(again.__cause__ or again))[:300])
    elif ctx.engine.dialect.name == "postgresql":
        return _store_and_announce(ctx, delivery_id, config_id, tenant_id, label, request,
                                   events)
    return _store_and_apply(ctx, delivery_id, config_id, tenant_id, label, request, events,
                            False, known, process=process)


def _store_and_apply(ctx, delivery_id: int, config_id: int, tenant_id: int, label: str,
                     request: WebhookRequest, events: list[GatewayEvent], optimistically: bool,
                     known: deliveries.Known | None, process: bool = True) -> Receipt:
    """One try of :func:`_store_events` (``optimistically``: see :func:`events.applying`)."""
    new_rows, duplicates = [], 0
    with ctx.transaction() as session, applying(session, optimistically):
        config_row = None
        if known is not None:
            remember_settings(session, tenant_id, known.settings)
            config_row = session.merge(known.row, load=False)
        for event in events:
            # The unique (configuration, event id) key lets one copy in; a copy already
            # stored (here or by a concurrent request) inserts nothing and returns no row.
            # Every column is given, so applying the event reads none of them again.
            stored = insert_if_absent(session, GatewayEventRow, {
                "tenant_id": tenant_id, "gateway_configuration_id": config_id,
                "delivery_id": delivery_id, "event_id": event.event_id,
                "event_type": event.type, "payment_number": event.payment_id,
                "gateway_reference": event.gateway_reference, "payload": json_safe(event),
                "received_at": request.received_at, "next_attempt_at": request.received_at,
                "attempts": 0, "last_error": None, "processed_at": None,
                "status": (EventStatus.IGNORED if event.type == EventType.IGNORED
                           else EventStatus.PENDING)}, ("gateway_configuration_id", "event_id"))
            if stored is None:
                duplicates += 1
                continue
            new_rows.append(stored)
        verdict = "accepted" if new_rows or not events else "duplicate"
        session.connection().execute(_VERDICT, {"delivery_id": delivery_id,
                                                "verdict": verdict})
        if process:
            for row in new_rows:
                if row.status == EventStatus.PENDING:
                    apply_stored(ctx, session, row, ctx.now(), config_row)
    return _stored(label, verdict, len(events), len(new_rows))


def _stored(label: str, verdict: str, received: int, new: int) -> Receipt:
    metrics.observe_webhook_delivery(label, verdict)
    log.info("webhook %s: %d event(s), %d new, %d duplicate(s)", verdict, received, new,
             received - new)
    return Receipt(200, {"received": received, "new": new, "duplicates": received - new})


# Deferred apply on PostgreSQL: the events stored, the verdict set and the events announced
# to the worker's applier in one statement that commits on its own.
_STORE_AND_ANNOUNCE = text(f"""
WITH given AS (
    SELECT * FROM json_to_recordset(CAST(:events AS json)) AS g(
        n int, event_id text, event_type text, payment_number text, gateway_reference text,
        payload json, status text)
), stored AS (
    INSERT INTO gateway_events (tenant_id, gateway_configuration_id, delivery_id, event_id,
        event_type, payment_number, gateway_reference, payload, received_at,
        next_attempt_at, attempts, status)
    SELECT :tenant_id, :config_id, :delivery_id, event_id, event_type, payment_number,
        gateway_reference, payload, :received_at, :received_at, 0, status
    FROM given ORDER BY n
    ON CONFLICT (gateway_configuration_id, event_id) DO NOTHING
    RETURNING status
), verdict AS (
    UPDATE webhook_deliveries SET error = NULL, verdict = CASE
        WHEN EXISTS (SELECT FROM stored) OR NOT EXISTS (SELECT FROM given) THEN 'accepted'
        ELSE 'duplicate' END
    WHERE id = :delivery_id RETURNING verdict
), announced AS (
    SELECT pg_notify('{CHANNEL}', '') FROM stored WHERE status = 'pending' LIMIT 1
)
SELECT (SELECT count(*) FROM stored), (SELECT verdict FROM verdict),
    (SELECT count(*) FROM announced)
""").bindparams(bindparam("received_at", type_=UTCDateTime()))


def _store_and_announce(ctx, delivery_id: int, config_id: int, tenant_id: int, label: str,
                        request: WebhookRequest, events: list[GatewayEvent]) -> Receipt:
    """:func:`_store_events` for deferred apply on PostgreSQL: each event stored once, the
    verdict set and the new pending events announced to the worker's applier (a
    notification on :data:`CHANNEL`, :mod:`loket.jobs.applier`), all in one statement (one
    round trip) that commits on its own."""
    given = [{"n": n, "event_id": event.event_id, "event_type": event.type,
              "payment_number": event.payment_id,
              "gateway_reference": event.gateway_reference, "payload": json_safe(event),
              "status": (EventStatus.IGNORED if event.type == EventType.IGNORED
                         else EventStatus.PENDING)} for n, event in enumerate(events)]
    with ctx.statements() as session:
        new, verdict, _announced = session.execute(_STORE_AND_ANNOUNCE, {
            "events": json.dumps(given), "tenant_id": tenant_id, "config_id": config_id,
            "delivery_id": delivery_id, "received_at": request.received_at}).one()
    return _stored(label, verdict, len(events), new)


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


def _set_verdict(ctx, delivery_id: int, verdict: str, error: str | None) -> None:
    with ctx.transaction() as session:
        session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
                        .values(verdict=verdict, error=printable(error)[:4000]
                                if error is not None else None))
