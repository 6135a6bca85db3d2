"""Payment links."""

from __future__ import annotations

from typing import Any, Optional

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from loket.core.models.base import (
    Base,
    _now,
    currency,
    intpk,
    tenant_key,
    timestamp,
)
from loket.core.models.tenants import Consumer


class PaymentLink(Base):
    """A link sent to a payer: what it asks for, how much may be paid, until when."""

    __tablename__ = "payment_links"
    __table_args__ = (Index("ix_payment_links_status_created", "tenant_id", "status",
                            "created_at"),)
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_key]
    # The public id (``pl_…``): random, unguessable, part of the signed token.
    key: Mapped[str] = mapped_column(String(40), unique=True)
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"), index=True)
    # Receivable ids the link asks for; ``None`` means everything open on the account.
    receivable_ids: Mapped[Optional[list[Any]]]
    amount_policy: Mapped[str] = mapped_column(String(20))  # full | partial
    minimum: Mapped[Optional[int]] = mapped_column(BigInteger)
    currency: Mapped[currency]
    multi_use: Mapped[bool] = mapped_column(Boolean, default=False)
    channels: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(20), default="active")
    description: Mapped[str] = mapped_column(String(300), default="")
    expires_at: Mapped[timestamp]
    created_by: Mapped[Optional[str]] = mapped_column(String(100))
    created_at: Mapped[timestamp] = mapped_column(default=_now)
    paid_at: Mapped[Optional[timestamp]]
    cancelled_at: Mapped[Optional[timestamp]]
    last_sent_at: Mapped[Optional[timestamp]]
    consumer: Mapped[Consumer] = relationship()
