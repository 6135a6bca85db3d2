"""Writing to the outbox, inside the caller's transaction, and reading it as a feed.

A host event is one :class:`~loket.core.models.OutboxEvent` row plus one pending
:class:`~loket.core.models.OutboxDelivery` per host endpoint subscribed to its type, all in
the transaction of the change it describes: nothing is published for a change that rolled
back, nothing is lost for one that committed. A message for a person is an event of kind
``message`` with one delivery per channel and recipient.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, object_session

from loket.core.db import after_commit
from loket.core.models import HostWebhookEndpoint, OutboxDelivery, OutboxEvent
from loket.types import Notification, json_safe

HOST_EVENT_TYPES = (
    "payment.initiated", "payment.succeeded", "payment.completed", "payment.posted",
    "payment.failed", "payment.refunded", "payment.partially_refunded", "payment.cancelled",
    "payment_link.created", "payment_link.paid", "payment_link.expired",
    "payment_link.cancelled", "credit_note.created", "credit_note.applied",
    "credit_note.expired", "credit_note.cancelled", "todo.raised",
    "autopay.attempted", "autopay.failed", "autopay.stopped",
    "plan.created", "plan.rescheduled", "plan.cancelled", "plan.completed", "plan.defaulted",
)
"""Every host event type loket emits."""


class EventKind(enum.StrEnum):
    """What an outbox row carries."""

    HOST_EVENT = "host_event"
    MESSAGE = "message"


class DeliveryStatus(enum.StrEnum):
    """Where a delivery stands: waiting (or retrying), done, or given up after 3 days."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_event_id() -> str:
    """A stable, unique event id (``evt_…``) the receiver deduplicates on."""
    return f"evt_{uuid.uuid4().hex}"


def emit(session: Session, tenant_id: int, event_type: str, data: dict[str, Any],
         ordering_key: str, now: dt.datetime | None = None) -> OutboxEvent:
    """Write a host event and its deliveries to every subscribed endpoint (caller's
    transaction; nothing is sent here).

    :param event_type: one of :data:`HOST_EVENT_TYPES`.
    :param data: the event's JSON data (what changed).
    :param ordering_key: events with the same key reach an endpoint in the order written,
        e.g. ``payment:PAY-2025-000001``.
    :returns: the event row (its ``id``, the feed cursor, is assigned when the session
        next flushes).
    """
    now = now or _utcnow()
    event_id = new_event_id()
    event = OutboxEvent(tenant_id=tenant_id, event_id=event_id, kind=EventKind.HOST_EVENT,
                        type=event_type, ordering_key=ordering_key[:120],
                        payload={"id": event_id, "type": event_type,
                                 "created_at": now.isoformat(), "data": json_safe(data)},
                        created_at=now)
    subscribers = [endpoint for endpoint in _endpoints(session, tenant_id)
                   if not endpoint.event_types or event_type in endpoint.event_types]
    session.add(event)
    for endpoint in subscribers:
        session.add(OutboxDelivery(
            tenant_id=tenant_id, event=event, endpoint_id=endpoint.id,
            target=f"endpoint:{endpoint.id}", channel="webhook", recipient=endpoint.url,
            ordering_key=event.ordering_key, status=DeliveryStatus.PENDING,
            next_attempt_at=now, created_at=now))
    return event


_ENDPOINTS = "loket.host_endpoints"


@sa_event.listens_for(HostWebhookEndpoint, "after_insert")
@sa_event.listens_for(HostWebhookEndpoint, "after_update")
@sa_event.listens_for(HostWebhookEndpoint, "after_delete")
def _endpoint_written(_mapper, _connection, endpoint: HostWebhookEndpoint) -> None:
    """An endpoint written by a session: the endpoints it read are read again."""
    session = object_session(endpoint)
    if session is not None:
        session.info.pop(_ENDPOINTS, None)


def _endpoints(session: Session, tenant_id: int) -> list:
    """The tenant's active endpoints, read once per transaction or savepoint (a batch of
    webhook events emits an event per payment), and again after one was written in it
    through the ORM (as :mod:`loket.core.outbox.endpoints` writes them; an ``UPDATE``
    statement on the table would not be seen)."""
    if any(isinstance(changed, HostWebhookEndpoint)
           for changed in (*session.new, *session.dirty, *session.deleted)):
        session.flush()  # an endpoint added or changed in this transaction, as it now is
    connection = session.connection()  # begins the transaction: the scope kept below
    scope = session.get_nested_transaction() or session.get_transaction()
    kept_scope, kept = session.info.get(_ENDPOINTS, (None, {}))
    if kept_scope is not scope:
        kept = {}
        session.info[_ENDPOINTS] = (scope, kept)
    if tenant_id not in kept:
        # Read on the connection: no flush of what is pending, which waits for the next
        # flush (the deliveries name their event through the ORM, which writes it first).
        kept[tenant_id] = connection.execute(_SUBSCRIBERS, {"tenant_id": tenant_id}).all()
    return kept[tenant_id]


_SUBSCRIBERS = select(HostWebhookEndpoint.id, HostWebhookEndpoint.url,
                      HostWebhookEndpoint.event_types).where(
    HostWebhookEndpoint.tenant_id == bindparam("tenant_id"), HostWebhookEndpoint.active.is_(True),
    HostWebhookEndpoint.deleted_at.is_(None)).order_by(HostWebhookEndpoint.id)


def emit_message(session: Session, notification: Notification,
                 recipients: list[tuple[str, str]], ordering_key: str,
                 now: dt.datetime | None = None, kick: Any = None) -> OutboxEvent | None:
    """Write a message for people: one delivery per ``(channel, recipient)``.

    :param recipients: e.g. ``[("email", "a@example.com"), ("sms", "+6281234567890")]``.
    :param kick: called with the event row id once the transaction commits (e.g. to try
        the deliveries at once); the worker retries whatever is left.
    :returns: the event, or ``None`` when there is nobody to send to.
    """
    if not recipients:
        return None
    now = now or _utcnow()
    event_id = new_event_id()
    event = OutboxEvent(tenant_id=notification.tenant_id, event_id=event_id,
                        kind=EventKind.MESSAGE, type=notification.kind,
                        ordering_key=ordering_key[:120],
                        payload={"id": event_id, "notification": json_safe(notification)},
                        created_at=now)
    session.add(event)
    seen = set()
    for channel, recipient in recipients:
        target = f"{channel}:{recipient}"[:300]
        if target in seen:
            continue
        seen.add(target)
        session.add(OutboxDelivery(
            tenant_id=notification.tenant_id, event=event, target=target,
            channel=channel, recipient=recipient, ordering_key=event.ordering_key,
            status=DeliveryStatus.PENDING, next_attempt_at=now, created_at=now))
    if kick is not None:
        after_commit(session, lambda: kick(event.id))
    return event


def notification_of(event: OutboxEvent) -> Notification:
    """The :class:`~loket.types.Notification` a message event carries."""
    data = dict(event.payload["notification"])
    return Notification(tenant_id=data["tenant_id"], kind=data["kind"],
                        subject=data["subject"], body=data["body"],
                        recipients=tuple(data.get("recipients") or ()),
                        data=data.get("data") or {})
