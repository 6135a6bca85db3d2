"""Settlement records from gateway reports and bank statement lines."""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from loket.core.models.base import (
    Base,
    _now,
    currency,
    intpk,
    money,
    tenant_fk,
    tenant_key,
    timestamp,
)


class SettlementRecord(Base):
    """A settlement line received from a gateway (payout or report), for reconciliation."""

    __tablename__ = "settlements"
    __table_args__ = (UniqueConstraint("gateway_configuration_id", "gateway_reference",
                                       "payout_reference"),)
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_fk]
    gateway_configuration_id: Mapped[int] = mapped_column(ForeignKey("gateway_configurations.id"))
    payment_id: Mapped[Optional[int]] = mapped_column(ForeignKey("payments.id"), index=True)
    gateway_reference: Mapped[str] = mapped_column(String(200))
    payout_reference: Mapped[str] = mapped_column(String(100), default="")
    amount: Mapped[money]
    fee: Mapped[money]
    net: Mapped[money]
    currency: Mapped[currency]
    matched: Mapped[bool] = mapped_column(Boolean, default=False)
    settled_at: Mapped[timestamp]
    bank_line_id: Mapped[Optional[int]] = mapped_column(ForeignKey("bank_statement_lines.id"))
    created_at: Mapped[timestamp] = mapped_column(default=_now)


class BankStatementLine(Base):
    """A credit on the tenant's bank statement, matched (or not) to a gateway payout."""

    __tablename__ = "bank_statement_lines"
    __table_args__ = (UniqueConstraint("tenant_id", "fingerprint"),)
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_key]
    fingerprint: Mapped[str] = mapped_column(String(64))
    booked_on: Mapped[dt.date] = mapped_column(Date)
    reference: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(300), default="")
    amount: Mapped[money]
    currency: Mapped[currency]
    payout_reference: Mapped[Optional[str]] = mapped_column(String(100))
    imported_at: Mapped[timestamp] = mapped_column(default=_now)


class ReconciliationRun(Base):
    """A reconciliation file (settlement report, bank statement) of any size, uploaded and
    then read by the worker: where it is, and how far the worker has got."""

    __tablename__ = "reconciliation_runs"
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_fk]
    kind: Mapped[str] = mapped_column(String(30))  # RunKind
    gateway: Mapped[Optional[str]] = mapped_column(String(40))
    filename: Mapped[str] = mapped_column(String(200))
    stored_as: Mapped[str] = mapped_column(String(300))  # under the var directory
    size: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(20), index=True)  # RunState
    uploaded_by: Mapped[str] = mapped_column(String(200))
    uploaded_role: Mapped[str] = mapped_column(String(40))
    lines: Mapped[int] = mapped_column(Integer, default=0)
    matched: Mapped[int] = mapped_column(Integer, default=0)
    already_settled: Mapped[int] = mapped_column(Integer, default=0)
    unmatched: Mapped[int] = mapped_column(Integer, default=0)
    unmatched_sample: Mapped[list[Any]] = mapped_column(default=list)
    # Lines whose block committed with the counts above (an attempt that starts again skips
    # them).
    committed_lines: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[Optional[str]] = mapped_column(String(2000))
    created_at: Mapped[timestamp] = mapped_column(default=_now)
    heartbeat_at: Mapped[Optional[timestamp]]
    finished_at: Mapped[Optional[timestamp]]
