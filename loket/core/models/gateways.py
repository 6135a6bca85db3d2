"""Gateway configurations and what gateways send: webhook deliveries and events."""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from loket.core.models.base import (
    Base,
    _now,
    intpk,
    tenant_fk,
    tenant_key,
    timestamp,
)
from loket.core.states import (
    EventStatus,
)


class GatewayConfiguration(Base):
    __tablename__ = "gateway_configurations"
    __table_args__ = (UniqueConstraint("tenant_id", "kind", "profile"),)
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_key]
    kind: Mapped[str] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    credentials_encrypted: Mapped[Optional[str]] = mapped_column(Text)
    credentials_masked: Mapped[dict[str, Any]] = mapped_column(default=dict)
    webhook_token: Mapped[str] = mapped_column(String(64), unique=True)
    connected: Mapped[bool] = mapped_column(Boolean, default=False)
    connected_at: Mapped[Optional[timestamp]]
    test_payment_id: Mapped[Optional[int]]
    test_response: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_handshake_at: Mapped[Optional[timestamp]]
    last_handshake_error: Mapped[Optional[str]] = mapped_column(Text)
    handshake_failures: Mapped[int] = mapped_column(default=0)
    handshake_alerted_at: Mapped[Optional[timestamp]]
    created_at: Mapped[timestamp] = mapped_column(default=_now)
    updated_at: Mapped[timestamp] = mapped_column(default=_now, onupdate=_now)
    # A named configuration of this kind (several accounts of one gateway per tenant).
    profile: Mapped[str] = mapped_column(String(40), default="default",
                                         server_default="default")


class WebhookDelivery(Base):
    """Every request received on a webhook URL, stored before loket answers."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[intpk]
    tenant_id: Mapped[Optional[int]] = mapped_column(ForeignKey("tenants.id"), index=True)
    gateway_configuration_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("gateway_configurations.id"))
    path: Mapped[str] = mapped_column(String(300))
    headers: Mapped[dict[str, Any]]
    body: Mapped[bytes] = mapped_column(LargeBinary)
    verdict: Mapped[str] = mapped_column(String(30), default="pending")  # accepted|rejected|...
    error: Mapped[Optional[str]] = mapped_column(Text)
    received_at: Mapped[timestamp] = mapped_column(default=_now, index=True)


class GatewayEventRow(Base):
    """A normalized gateway event, unique per (configuration, gateway event id)."""

    __tablename__ = "gateway_events"
    __table_args__ = (UniqueConstraint("gateway_configuration_id", "event_id"),
                      Index("ix_gateway_events_status_next", "status", "next_attempt_at"))
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_fk]
    gateway_configuration_id: Mapped[int] = mapped_column(ForeignKey("gateway_configurations.id"))
    delivery_id: Mapped[Optional[int]] = mapped_column(ForeignKey("webhook_deliveries.id"))
    event_id: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(40))
    payment_number: Mapped[Optional[str]] = mapped_column(String(200), index=True)
    gateway_reference: Mapped[Optional[str]] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20), default=EventStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[Optional[str]] = mapped_column(Text)
    next_attempt_at: Mapped[Optional[timestamp]]
    processed_at: Mapped[Optional[timestamp]]
    received_at: Mapped[timestamp] = mapped_column(default=_now)


class UnknownWebhookTally(Base):
    """Requests to webhook URLs that name no configuration, counted per gateway kind and
    day with a bounded sample of who sent them (bodies are never stored)."""

    __tablename__ = "unknown_webhook_tallies"
    __table_args__ = (UniqueConstraint("kind", "day"),)
    id: Mapped[intpk]
    kind: Mapped[str] = mapped_column(String(40))
    day: Mapped[dt.date] = mapped_column(Date)
    count: Mapped[int] = mapped_column(default=0)
    sample: Mapped[list[Any]] = mapped_column(default=list)
    last_at: Mapped[timestamp] = mapped_column(default=_now)
