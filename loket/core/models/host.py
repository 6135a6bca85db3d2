"""What the host owes loket's payers: receivables, their typed attributes, plans."""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from loket.core.models.base import (
    Base,
    _now,
    currency,
    intpk,
    money,
    tenant_key,
    timestamp,
)
from loket.core.states import (
    PlanStatus,
    ReceivableStatus,
)


class PaymentPlan(Base):
    __tablename__ = "payment_plans"
    __table_args__ = (UniqueConstraint("tenant_id", "reference"),)
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_key]
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"), index=True)
    reference: Mapped[str] = mapped_column(String(64))
    currency: Mapped[currency]
    status: Mapped[str] = mapped_column(String(20), default=PlanStatus.ACTIVE)
    missed_installments: Mapped[int] = mapped_column(default=0)
    defaulted_at: Mapped[Optional[timestamp]]
    created_at: Mapped[timestamp] = mapped_column(default=_now)
    # The terms of a plan made in loket (empty for a plan the host uploads as installments).
    amount: Mapped[Optional[int]] = mapped_column(BigInteger)
    down_payment: Mapped[Optional[int]] = mapped_column(BigInteger)
    installment_count: Mapped[Optional[int]]
    frequency: Mapped[Optional[str]] = mapped_column(String(20))
    first_due_on: Mapped[Optional[dt.date]] = mapped_column(Date)
    # The receivables the plan took over (ids); they reopen when the plan is cancelled.
    source_items: Mapped[Optional[list[Any]]]
    created_by: Mapped[Optional[str]] = mapped_column(String(100))
    closed_at: Mapped[Optional[timestamp]]
    # The consumer reminders already sent (``due:<installment id>``, ``late:<id>``).
    reminders: Mapped[Optional[list[Any]]]


class Receivable(Base):
    """A bill, service charge or installment the consumer owes."""

    __tablename__ = "receivables"
    __table_args__ = (
        UniqueConstraint("tenant_id", "kind", "reference"),
        Index("ix_receivables_consumer_status", "consumer_id", "status"),
        # Most bills belong to no plan: only the ones that do are indexed.
        Index("ix_receivables_plan_id", "plan_id", postgresql_where=text("plan_id IS NOT NULL"),
              sqlite_where=text("plan_id IS NOT NULL")),
    )
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_key]
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"))
    kind: Mapped[str] = mapped_column(String(20))  # bill | service | installment
    reference: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(300), default="")
    period: Mapped[Optional[str]] = mapped_column(String(40))
    amount: Mapped[money]
    paid: Mapped[money]
    currency: Mapped[currency]
    due_date: Mapped[Optional[dt.date]] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default=ReceivableStatus.OPEN)
    plan_id: Mapped[Optional[int]] = mapped_column(ForeignKey("payment_plans.id"))
    sequence: Mapped[Optional[int]]
    created_at: Mapped[timestamp] = mapped_column(default=_now)
    # The bill's or service's issue date as the host gives it (default: the creation date);
    # the start of the collection time.
    issued_on: Mapped[Optional[dt.date]] = mapped_column(Date, default=lambda context: (
        context.get_current_parameters().get("created_at") or _now()).date())

    @property
    def outstanding(self) -> int:
        return self.amount - self.paid


class ReceivableAttribute(Base):
    """A typed attribute of a receivable (taxpayer id, tax type, DLN…) that destination
    processors look up; validated against the schema the processor declares for the kind."""

    __tablename__ = "receivable_attributes"
    __table_args__ = (UniqueConstraint("receivable_id", "name"),
                      Index("ix_receivable_attributes_lookup", "tenant_id", "name", "value"))
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_key]
    receivable_id: Mapped[int] = mapped_column(ForeignKey("receivables.id"))
    name: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(String(100))
