"""Events and messages on their way to the host and to people."""

from __future__ import annotations

from typing import Any, Optional

from sqlalchemy import (
    BigInteger,
    Boolean,
    FetchedValue,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from loket.core.models.base import (
    Base,
    _now,
    intpk,
    tenant_fk,
    timestamp,
)


class OutboxEvent(Base):
    """Something that must leave loket because of a change, written in the change's own
    transaction: a host event (``payment.succeeded``…) or a message for a person."""

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_tenant_id_id", "tenant_id", "id"),
                      Index("ix_outbox_events_feed_xid", "feed_xid", "id"))
    id: Mapped[intpk]  # the feed cursor
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    event_id: Mapped[str] = mapped_column(String(40), unique=True)  # stable, for dedup
    kind: Mapped[str] = mapped_column(String(20))  # host_event | message
    type: Mapped[str] = mapped_column(String(60))
    ordering_key: Mapped[str] = mapped_column(String(120))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[timestamp] = mapped_column(default=_now)
    # The writing transaction, on PostgreSQL (loket.core.models.outbox_feed): set by the
    # database, never by loket.
    feed_xid: Mapped[Optional[int]] = mapped_column(BigInteger, server_default=FetchedValue())


class HostWebhookEndpoint(Base):
    """A URL of the host that receives signed events."""

    __tablename__ = "host_webhook_endpoints"
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_fk]
    url: Mapped[str] = mapped_column(String(500))
    event_types: Mapped[list[Any]] = mapped_column(default=list)  # empty: every type
    secret_encrypted: Mapped[str] = mapped_column(Text)
    # After a rotation, the secret it replaced also signs until previous_secret_expires_at.
    previous_secret_encrypted: Mapped[Optional[str]] = mapped_column(Text)
    previous_secret_expires_at: Mapped[Optional[timestamp]]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[Optional[str]] = mapped_column(String(100))
    created_at: Mapped[timestamp] = mapped_column(default=_now)
    deleted_at: Mapped[Optional[timestamp]]


class OutboxDelivery(Base):
    """One destination of an outbox event: a host endpoint, or a channel and recipient.

    Delivered at least once, in order per ``(target, ordering_key)``; a worker takes a
    delivery by setting ``leased_until`` and one that dies mid-way is taken again later.
    """

    __tablename__ = "outbox_deliveries"
    __table_args__ = (
        UniqueConstraint("event_row_id", "target"),
        Index("ix_outbox_deliveries_status_next", "status", "next_attempt_at"),
        Index("ix_outbox_deliveries_target_key", "target", "ordering_key", "id"),
    )
    id: Mapped[intpk]
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    event_row_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id"))
    # Set on a new delivery instead of event_row_id: its event need not be written first.
    event: Mapped[OutboxEvent] = relationship(lazy="raise")
    endpoint_id: Mapped[Optional[int]] = mapped_column(ForeignKey("host_webhook_endpoints.id"),
                                                       index=True)
    # ``endpoint:<id>`` or ``<channel>:<recipient>`` (e-mail, sms, whatsapp, log).
    target: Mapped[str] = mapped_column(String(300))
    channel: Mapped[str] = mapped_column(String(30))
    recipient: Mapped[Optional[str]] = mapped_column(String(300))
    ordering_key: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[timestamp]
    leased_until: Mapped[Optional[timestamp]]
    last_error: Mapped[Optional[str]] = mapped_column(Text)
    last_status_code: Mapped[Optional[int]]
    provider_reference: Mapped[Optional[str]] = mapped_column(String(200))
    delivered_at: Mapped[Optional[timestamp]]
    created_at: Mapped[timestamp] = mapped_column(default=_now)
