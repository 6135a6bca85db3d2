"""What loket keeps about its own work: to-dos, the audit trail, tracking, number
sequences, idempotency keys, guest attempts and rate-limit windows."""

from __future__ import annotations

from typing import Any, Optional

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from loket.core.models.base import (
    Base,
    _now,
    intpk,
    tenant_key,
    timestamp,
)
from loket.core.states import (
    TodoStatus,
)


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("tenant_id", "scope", "key"),)
    id: Mapped[intpk]
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    scope: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    result: Mapped[Optional[dict[str, Any]]]
    created_at: Mapped[timestamp] = mapped_column(default=_now)
    claimed_until: Mapped[Optional[timestamp]]  # the lease of a claim still without a result


class Todo(Base):
    """An exception for staff to handle (the worklist)."""

    __tablename__ = "todos"
    __table_args__ = (Index("ix_todos_status_created", "tenant_id", "status", "created_at"),
                      UniqueConstraint("tenant_id", "dedupe_key"))
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_key]
    kind: Mapped[str] = mapped_column(String(60))
    entity_type: Mapped[Optional[str]] = mapped_column(String(40))
    entity_id: Mapped[Optional[str]] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300))
    detail: Mapped[str] = mapped_column(Text, default="")
    dedupe_key: Mapped[Optional[str]] = mapped_column(String(200))  # one per tenant
    status: Mapped[str] = mapped_column(String(20), default=TodoStatus.OPEN)
    resolution: Mapped[Optional[str]] = mapped_column(Text)
    resolved_by: Mapped[Optional[str]] = mapped_column(String(100))
    created_at: Mapped[timestamp] = mapped_column(default=_now)
    resolved_at: Mapped[Optional[timestamp]]


class AuditEntry(Base):
    """Append-only: who did what to which entity, before and after."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_entity", "tenant_id", "entity_type", "entity_id"),)
    id: Mapped[intpk]
    tenant_id: Mapped[Optional[int]] = mapped_column(ForeignKey("tenants.id"))
    at: Mapped[timestamp] = mapped_column(default=_now)
    actor: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(60))
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(100))
    before: Mapped[Optional[dict[str, Any]]]
    after: Mapped[Optional[dict[str, Any]]]
    request_id: Mapped[Optional[str]] = mapped_column(String(100))


class TrackingEventRow(Base):
    __tablename__ = "tracking_events"
    __table_args__ = (Index("ix_tracking_name_at", "tenant_id", "name", "at"),)
    id: Mapped[intpk]
    tenant_id: Mapped[Optional[int]] = mapped_column(ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(String(80))
    actor: Mapped[Optional[str]] = mapped_column(String(100))
    properties: Mapped[dict[str, Any]]
    at: Mapped[timestamp] = mapped_column(default=_now)


class NumberSequence(Base):
    __tablename__ = "number_sequences"
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(30), primary_key=True)
    period: Mapped[str] = mapped_column(String(10), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class GuestAttempt(Base):
    """One identification attempt by a source (the per-source rate limit counts these)."""

    __tablename__ = "guest_attempts"
    __table_args__ = (Index("ix_guest_attempts_source_at", "tenant_id", "source", "at"),)
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_key]
    source: Mapped[str] = mapped_column(String(100))
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[timestamp] = mapped_column(default=_now)


class RateLimitWindow(Base):
    """Requests of one source in one fixed window of the public endpoints' rate limit;
    in the database, so every API process counts against the same limit."""

    __tablename__ = "rate_limit_windows"
    bucket: Mapped[str] = mapped_column(String(120), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hits: Mapped[int] = mapped_column(default=0)
