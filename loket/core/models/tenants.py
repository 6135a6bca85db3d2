"""Tenants, their settings, API keys and consumers (the account holders)."""

from __future__ import annotations

from typing import Any, Optional

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    String,
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


class Tenant(Base):
    __tablename__ = "tenants"
    id: Mapped[intpk]
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[timestamp] = mapped_column(default=_now)


class TenantSettings(Base):
    __tablename__ = "tenant_settings"
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    document: Mapped[dict[str, Any]]
    # The ISO 4217 decimals of the currency when its amounts were stored: the guard that
    # refuses to start if the table ever reads them differently (see settings.check_digits).
    currency_digits: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[timestamp] = mapped_column(default=_now, onupdate=_now)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_fk]
    role: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100), default="")
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[timestamp] = mapped_column(default=_now)
    revoked_at: Mapped[Optional[timestamp]]


class Consumer(Base):
    __tablename__ = "consumers"
    __table_args__ = (
        UniqueConstraint("tenant_id", "account_number"),
        Index("ix_consumers_tenant_name", "tenant_id", "name_search"),
    )
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_key]
    account_number: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    name_search: Mapped[str] = mapped_column(String(200))
    email: Mapped[Optional[str]] = mapped_column(String(200))
    phone: Mapped[Optional[str]] = mapped_column(String(50))
    service_address: Mapped[Optional[str]] = mapped_column(String(300))
    person_type: Mapped[str] = mapped_column(String(30), default="individual")
    created_at: Mapped[timestamp] = mapped_column(default=_now)
    # The host may block or disable an account (debt collection): it then takes only
    # lump-sum settlements of its open items.
    account_status: Mapped[str] = mapped_column(String(20), default="active",
                                                server_default="active")
    account_status_reason: Mapped[Optional[str]] = mapped_column(String(300))
    postcode: Mapped[Optional[str]] = mapped_column(String(20))


class Installation(Base):
    """This installation's identity, generated once and kept (namespaces what loket sends
    to services shared with other installations, such as gateway idempotency keys)."""

    __tablename__ = "installation"
    id: Mapped[intpk]
    installation_id: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[timestamp] = mapped_column(default=_now)
