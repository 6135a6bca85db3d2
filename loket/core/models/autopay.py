"""Stored mandates, auto-pay elections and the charges made on them."""

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
    currency,
    intpk,
    tenant_fk,
    tenant_key,
    timestamp,
)


class Mandate(Base):
    """A consumer's stored authorisation to be charged without them (a saved card or debit
    mandate), at one gateway configuration."""

    __tablename__ = "mandates"
    __table_args__ = (UniqueConstraint("tenant_id", "reference"),
                      Index("ix_mandates_gateway_reference", "gateway_configuration_id",
                            "gateway_reference"))
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_key]
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"), index=True)
    gateway_configuration_id: Mapped[int] = mapped_column(
        ForeignKey("gateway_configurations.id"))
    reference: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))  # loket.types.MandateStatus
    gateway_reference: Mapped[Optional[str]] = mapped_column(String(200))
    token: Mapped[Optional[str]] = mapped_column(String(200))
    gateway_customer: Mapped[Optional[str]] = mapped_column(String(200))
    brand: Mapped[str] = mapped_column(String(40), default="")
    last4: Mapped[str] = mapped_column(String(4), default="")
    exp_month: Mapped[Optional[int]]
    exp_year: Mapped[Optional[int]]
    redirect_url: Mapped[Optional[str]] = mapped_column(Text)
    created_by: Mapped[Optional[str]] = mapped_column(String(100))
    created_at: Mapped[timestamp] = mapped_column(default=_now)
    activated_at: Mapped[Optional[timestamp]]
    ended_at: Mapped[Optional[timestamp]]
    end_reason: Mapped[Optional[str]] = mapped_column(String(200))


class MandateEventRow(Base):
    """A mandate event received from a gateway, unique per (configuration, event id)."""

    __tablename__ = "mandate_events"
    __table_args__ = (UniqueConstraint("gateway_configuration_id", "event_id"),)
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_fk]
    gateway_configuration_id: Mapped[int] = mapped_column(
        ForeignKey("gateway_configurations.id"))
    mandate_id: Mapped[Optional[int]] = mapped_column(ForeignKey("mandates.id"), index=True)
    event_id: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[timestamp] = mapped_column(default=_now)


class AutopayElection(Base):
    """A consumer's choice to have their items charged to a mandate when due."""

    __tablename__ = "autopay_elections"
    __table_args__ = (UniqueConstraint("tenant_id", "consumer_id"),)
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_key]
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"))
    mandate_id: Mapped[int] = mapped_column(ForeignKey("mandates.id"), index=True)
    item_kinds: Mapped[list[Any]]
    max_amount: Mapped[Optional[int]] = mapped_column(BigInteger)
    currency: Mapped[currency]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    stop_reason: Mapped[Optional[str]] = mapped_column(String(200))
    updated_by: Mapped[Optional[str]] = mapped_column(String(100))
    created_at: Mapped[timestamp] = mapped_column(default=_now)
    updated_at: Mapped[timestamp] = mapped_column(default=_now, onupdate=_now)


class AutopayCharge(Base):
    """Auto-pay of one receivable: its attempts, the next try and how it ended."""

    __tablename__ = "autopay_charges"
    __table_args__ = (UniqueConstraint("receivable_id"),
                      Index("ix_autopay_charges_status_next", "status", "next_attempt_at"))
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_fk]
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"), index=True)
    receivable_id: Mapped[int] = mapped_column(ForeignKey("receivables.id"))
    mandate_id: Mapped[int] = mapped_column(ForeignKey("mandates.id"))
    status: Mapped[str] = mapped_column(String(20))  # loket.core.autopay.charge_states.ChargeState
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[Optional[timestamp]]
    last_decline_code: Mapped[Optional[str]] = mapped_column(String(100))
    last_decline_kind: Mapped[Optional[str]] = mapped_column(String(10))
    last_message: Mapped[Optional[str]] = mapped_column(Text)
    created_at: Mapped[timestamp] = mapped_column(default=_now)
    finished_at: Mapped[Optional[timestamp]]


class AutopayAttempt(Base):
    """One try of an auto-pay charge: the payment it made and what the gateway said."""

    __tablename__ = "autopay_attempts"
    __table_args__ = (UniqueConstraint("charge_id", "attempt"),)
    id: Mapped[intpk]
    charge_id: Mapped[int] = mapped_column(ForeignKey("autopay_charges.id"))
    attempt: Mapped[int]
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(20))  # loket.types.ChargeOutcome
    decline_code: Mapped[Optional[str]] = mapped_column(String(100))
    decline_kind: Mapped[Optional[str]] = mapped_column(String(10))
    message: Mapped[Optional[str]] = mapped_column(Text)
    next_attempt_at: Mapped[Optional[timestamp]]
    at: Mapped[timestamp] = mapped_column(default=_now)
