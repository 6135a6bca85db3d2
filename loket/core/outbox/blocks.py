"""Writing many outbox rows at once: the same rows :func:`~loket.core.outbox.events.emit` and
:func:`~loket.core.outbox.events.emit_message` write one by one, in a few statements per block.

Used where one action changes thousands of payments (a month's settlement report): the host
and the people hear of every change exactly as they would one at a time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core import bulk
from loket.core.models import HostWebhookEndpoint, OutboxDelivery, OutboxEvent
from loket.core.outbox.events import DeliveryStatus, EventKind, new_event_id
from loket.types import Notification, json_safe

_EVENTS = OutboxEvent.__table__
_DELIVERIES = OutboxDelivery.__table__


def _insert_events(session: Session, rows: list[dict], want_ids: bool) -> list[int]:
    return bulk.insert_rows(session, _EVENTS, rows, want_ids=want_ids)


def emit_many(session: Session, tenant_id: int,
              events: Sequence[tuple[str, dict[str, Any], str]], now: dt.datetime) -> None:
    """Write host events ``(type, data, ordering key)`` of one tenant, each with its
    deliveries to the endpoints subscribed to its type (caller's transaction)."""
    endpoints = session.scalars(select(HostWebhookEndpoint).where(
        HostWebhookEndpoint.tenant_id == tenant_id, HostWebhookEndpoint.active.is_(True),
        HostWebhookEndpoint.deleted_at.is_(None)).order_by(HostWebhookEndpoint.id)).all()
    rows = []
    for event_type, data, ordering_key in events:
        event_id = new_event_id()
        rows.append({"tenant_id": tenant_id, "event_id": event_id, "kind": EventKind.HOST_EVENT,
                     "type": event_type, "ordering_key": ordering_key[:120],
                     "payload": {"id": event_id, "type": event_type,
                                 "created_at": now.isoformat(), "data": json_safe(data)},
                     "created_at": now})
    ids = _insert_events(session, rows, want_ids=bool(endpoints))
    if not endpoints:
        return
    deliveries = [
        {"tenant_id": tenant_id, "event_row_id": row_id, "endpoint_id": endpoint.id,
         "target": f"endpoint:{endpoint.id}", "channel": "webhook", "recipient": endpoint.url,
         "ordering_key": row["ordering_key"], "status": DeliveryStatus.PENDING,
         "next_attempt_at": now, "created_at": now, "attempts": 0}
        for row_id, row in zip(ids, rows, strict=True) for endpoint in endpoints
        if not endpoint.event_types or row["type"] in endpoint.event_types]
    if deliveries:
        bulk.insert_rows(session, _DELIVERIES, deliveries)


def emit_messages(session: Session,
                  messages: Sequence[tuple[Notification, list[tuple[str, str]], str]],
                  now: dt.datetime) -> list[int]:
    """Write messages for people ``(notification, [(channel, recipient)], ordering key)``,
    one delivery per distinct channel and recipient; a message nobody can receive is skipped.

    :returns: the row ids of the events written (for an immediate delivery attempt).
    """
    kept = [(note, recipients, key) for note, recipients, key in messages if recipients]
    rows = []
    for note, _recipients, ordering_key in kept:
        event_id = new_event_id()
        rows.append({"tenant_id": note.tenant_id, "event_id": event_id,
                     "kind": EventKind.MESSAGE, "type": note.kind,
                     "ordering_key": ordering_key[:120],
                     "payload": {"id": event_id, "notification": json_safe(note)},
                     "created_at": now})
    ids = _insert_events(session, rows, want_ids=True)
    deliveries = []
    for row_id, row, (note, recipients, _key) in zip(ids, rows, kept, strict=True):
        seen = set()
        for channel, recipient in recipients:
            target = f"{channel}:{recipient}"[:300]
            if target in seen:
                continue
            seen.add(target)
            deliveries.append({
                "tenant_id": note.tenant_id, "event_row_id": row_id, "endpoint_id": None,
                "target": target, "channel": channel, "recipient": recipient,
                "ordering_key": row["ordering_key"], "status": DeliveryStatus.PENDING,
                "next_attempt_at": now, "created_at": now, "attempts": 0})
    if deliveries:
        bulk.insert_rows(session, _DELIVERIES, deliveries)
    return ids
