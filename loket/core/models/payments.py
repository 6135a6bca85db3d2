"""Payments and what moves their money: allocations, refunds, credit notes, holds,
agreements, disputes and approvals."""

from __future__ import annotations

from typing import Any, Optional

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
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
    currency,
    intpk,
    money,
    tenant_fk,
    tenant_key,
    timestamp,
)
from loket.core.models.host import Receivable
from loket.core.models.tenants import Consumer
from loket.core.states import (
    AllocationState,
    ApplicationState,
    CreditNoteStatus,
)


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        Index("ix_payments_status_created", "tenant_id", "status", "created_at"),
        Index("ix_payments_receipt", "tenant_id", "receipt_number"),
        Index("ix_payments_gateway_reference", "gateway_configuration_id", "gateway_reference"),
    )
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_key]
    number: Mapped[str] = mapped_column(String(40))
    transaction_number: Mapped[Optional[str]] = mapped_column(String(40))
    receipt_number: Mapped[Optional[str]] = mapped_column(String(40))
    consumer_id: Mapped[Optional[int]] = mapped_column(ForeignKey("consumers.id"), index=True)
    gateway_configuration_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("gateway_configurations.id"))
    gateway_reference: Mapped[Optional[str]] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(30))
    method: Mapped[str] = mapped_column(String(30))
    payment_type: Mapped[str] = mapped_column(String(30))  # bill|service|installment|mixed|test
    destination: Mapped[Optional[str]] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(30))
    verification: Mapped[str] = mapped_column(String(20), default="unverified")
    settlement_status: Mapped[str] = mapped_column(String(30), default="N/A")
    currency: Mapped[currency]
    amount: Mapped[money]  # what the obligations were billed for (before fee)
    fee: Mapped[money]
    fee_passed_on: Mapped[bool] = mapped_column(Boolean, default=False)
    amount_received: Mapped[money]
    change_given: Mapped[money]
    refunded: Mapped[money]
    settled_fee: Mapped[Optional[int]] = mapped_column(BigInteger)
    settled_net: Mapped[Optional[int]] = mapped_column(BigInteger)
    payout_reference: Mapped[Optional[str]] = mapped_column(String(100))
    application_state: Mapped[str] = mapped_column(String(20),
                                                   default=ApplicationState.PENDING)
    failure_category: Mapped[Optional[str]] = mapped_column(String(30))
    failure_message: Mapped[Optional[str]] = mapped_column(Text)
    failure_code: Mapped[Optional[str]] = mapped_column(String(100))
    redirect_url: Mapped[Optional[str]] = mapped_column(Text)
    gateway_details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    notes: Mapped[Optional[str]] = mapped_column(Text)
    is_test: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[Optional[timestamp]]
    created_by: Mapped[Optional[str]] = mapped_column(String(100))
    created_at: Mapped[timestamp] = mapped_column(default=_now)
    paid_at: Mapped[Optional[timestamp]]
    succeeded_at: Mapped[Optional[timestamp]]
    completed_at: Mapped[Optional[timestamp]]
    cancelled_at: Mapped[Optional[timestamp]]
    updated_at: Mapped[timestamp] = mapped_column(default=_now, onupdate=_now)
    # Who paid, when not (only) the account holder: receipts and notifications go here.
    payer_name: Mapped[Optional[str]] = mapped_column(String(200))
    payer_email: Mapped[Optional[str]] = mapped_column(String(200))
    payer_phone: Mapped[Optional[str]] = mapped_column(String(50))
    # What the gateway plugin's prepare-data hook gathered for the vendor (OPC raw element).
    external_payment_data: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    agreement_reference: Mapped[Optional[str]] = mapped_column(String(64))
    # The guest session (payer token id) that started the payment, if a guest did.
    guest_session: Mapped[Optional[str]] = mapped_column(String(40), index=True)
    # Deferred destinations only: the OPC service task the monitor moves (ServiceTask).
    service_task: Mapped[Optional[str]] = mapped_column(String(30), index=True)

    allocations: Mapped[list[Allocation]] = relationship(back_populates="payment",
                                                           order_by="Allocation.id")
    consumer: Mapped[Optional[Consumer]] = relationship()
    # The payment link the payer paid through, if any.
    payment_link_id: Mapped[Optional[int]] = mapped_column(ForeignKey("payment_links.id"),
                                                           index=True)


class Allocation(Base):
    """Money of a payment applied (or intended) to a receivable."""

    __tablename__ = "allocations"
    id: Mapped[intpk]
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    receivable_id: Mapped[int] = mapped_column(ForeignKey("receivables.id"), index=True)
    destination: Mapped[str] = mapped_column(String(60))
    amount: Mapped[money]
    reversed: Mapped[money]  # given back by a refund (the receivable reopens)
    state: Mapped[str] = mapped_column(String(20), default=AllocationState.INTENDED)
    created_at: Mapped[timestamp] = mapped_column(default=_now)
    payment: Mapped[Payment] = relationship(back_populates="allocations")
    receivable: Mapped[Receivable] = relationship()


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (UniqueConstraint("payment_id", "gateway_reference"),)
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_fk]
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"))
    amount: Mapped[money]
    currency: Mapped[currency]
    status: Mapped[str] = mapped_column(String(20))
    gateway_reference: Mapped[Optional[str]] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[Optional[str]] = mapped_column(String(100))
    created_at: Mapped[timestamp] = mapped_column(default=_now)


class CreditNote(Base):
    __tablename__ = "credit_notes"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        Index("ix_credit_notes_status_created", "tenant_id", "status", "created_at"),
    )
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_key]
    number: Mapped[str] = mapped_column(String(40))
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"), index=True)
    amount: Mapped[money]
    applied: Mapped[money]
    reversed: Mapped[money]  # given back by a refund of the payment
    currency: Mapped[currency]
    reason: Mapped[str] = mapped_column(String(40))
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    remarks: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(20), default=CreditNoteStatus.ACTIVE)
    expires_at: Mapped[timestamp]
    created_by: Mapped[Optional[str]] = mapped_column(String(100))
    created_at: Mapped[timestamp] = mapped_column(default=_now)
    payment: Mapped[Payment] = relationship()
    consumer: Mapped[Consumer] = relationship()


class CreditNoteApplication(Base):
    __tablename__ = "credit_note_applications"
    id: Mapped[intpk]
    credit_note_id: Mapped[int] = mapped_column(ForeignKey("credit_notes.id"), index=True)
    receivable_id: Mapped[int] = mapped_column(ForeignKey("receivables.id"), index=True)
    amount: Mapped[money]
    created_by: Mapped[Optional[str]] = mapped_column(String(100))
    created_at: Mapped[timestamp] = mapped_column(default=_now)


class PaymentHold(Base):
    """A payment taken for something that does not exist yet (a tax form whose DLN the host
    has not sent): held Pending until a receivable with ``hold_key`` arrives."""

    __tablename__ = "payment_holds"
    __table_args__ = (Index("ix_payment_holds_key", "tenant_id", "hold_key", "state"),)
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_key]
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), unique=True)
    destination: Mapped[str] = mapped_column(String(60))
    hold_key: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict[str, Any]]
    amount: Mapped[money]
    state: Mapped[str] = mapped_column(String(20), default="waiting")  # waiting|applied
    created_at: Mapped[timestamp] = mapped_column(default=_now)
    applied_at: Mapped[Optional[timestamp]]


class PaymentAgreement(Base):
    """An automatic payment agreement on an account: bank-debit payments need an active one."""

    __tablename__ = "payment_agreements"
    __table_args__ = (UniqueConstraint("tenant_id", "reference"),)
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_key]
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"), index=True)
    reference: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="active")  # AgreementStatus
    reason: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[timestamp] = mapped_column(default=_now)
    updated_at: Mapped[timestamp] = mapped_column(default=_now, onupdate=_now)


class Dispute(Base):
    """A payer's challenge of a payment (chargeback or complaint) and how it ended."""

    __tablename__ = "disputes"
    __table_args__ = (Index("ix_disputes_status_created", "tenant_id", "status", "created_at"),)
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_key]
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    amount: Mapped[money]
    currency: Mapped[currency]
    reason: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="open")
    # [{"at", "by", "note", "status"}]: the evidence notes and every change, in order.
    history: Mapped[list[Any]] = mapped_column(default=list)
    gateway_reference: Mapped[Optional[str]] = mapped_column(String(200))
    amount_taken_back: Mapped[money]
    opened_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[timestamp] = mapped_column(default=_now)
    closed_at: Mapped[Optional[timestamp]]
    payment: Mapped[Payment] = relationship()


class Approval(Base):
    """An adjustment above the tenant's threshold waiting for a second person (maker-checker)."""

    __tablename__ = "approvals"
    __table_args__ = (Index("ix_approvals_status_created", "tenant_id", "status", "created_at"),)
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_key]
    kind: Mapped[str] = mapped_column(String(30))
    # The payment adjusted (none for a payment plan change: its plan is in ``request``).
    payment_id: Mapped[Optional[int]] = mapped_column(ForeignKey("payments.id"), index=True)
    amount: Mapped[money]
    currency: Mapped[currency]
    request: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20), default="pending")
    maker: Mapped[str] = mapped_column(String(100))
    maker_role: Mapped[str] = mapped_column(String(40))
    # The maker's API key (row id): two unnamed keys of one role share a name, not a key.
    maker_key_id: Mapped[Optional[int]]
    checker: Mapped[Optional[str]] = mapped_column(String(100))
    decision_note: Mapped[Optional[str]] = mapped_column(Text)
    result: Mapped[Optional[dict[str, Any]]]
    created_at: Mapped[timestamp] = mapped_column(default=_now)
    decided_at: Mapped[Optional[timestamp]]
    payment: Mapped[Optional[Payment]] = relationship()
