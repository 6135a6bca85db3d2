"""ORM rows (SQLAlchemy 2.x typed declarative). They stay inside the core.

Money columns are integers in minor units with a currency column beside them.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Optional

from sqlalchemy import (
    DDL,
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from loket.core.states import (
    AllocationState,
    ApplicationState,
    CreditNoteStatus,
    EventStatus,
    PlanStatus,
    ReceivableStatus,
    TodoStatus,
)


class UTCDateTime(TypeDecorator):
    """An aware UTC datetime on every backend (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("loket stores aware datetimes only")
        return value.astimezone(dt.UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


intpk = Annotated[int, mapped_column(Integer, primary_key=True)]
money = Annotated[int, mapped_column(BigInteger, nullable=False, default=0)]
timestamp = Annotated[dt.datetime, mapped_column(UTCDateTime)]
currency = Annotated[str, mapped_column(String(3), nullable=False)]
tenant_fk = Annotated[int, mapped_column(ForeignKey("tenants.id"), nullable=False, index=True)]

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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
    tenant_id: Mapped[tenant_fk]
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


class PaymentPlan(Base):
    __tablename__ = "payment_plans"
    __table_args__ = (UniqueConstraint("tenant_id", "reference"),)
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_fk]
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
    )
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_fk]
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
    plan_id: Mapped[Optional[int]] = mapped_column(ForeignKey("payment_plans.id"), index=True)
    sequence: Mapped[Optional[int]]
    created_at: Mapped[timestamp] = mapped_column(default=_now)
    # The bill's or service's issue date as the host gives it (default: the creation date);
    # the start of the collection time.
    issued_on: Mapped[Optional[dt.date]] = mapped_column(Date, default=lambda context: (
        context.get_current_parameters().get("created_at") or _now()).date())

    @property
    def outstanding(self) -> int:
        return self.amount - self.paid


class GatewayConfiguration(Base):
    __tablename__ = "gateway_configurations"
    __table_args__ = (UniqueConstraint("tenant_id", "kind", "profile"),)
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_fk]
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


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        Index("ix_payments_status_created", "tenant_id", "status", "created_at"),
        Index("ix_payments_receipt", "tenant_id", "receipt_number"),
        Index("ix_payments_gateway_reference", "gateway_configuration_id", "gateway_reference"),
    )
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_fk]
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
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
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
    tenant_id: Mapped[tenant_fk]
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
    __table_args__ = (Index("ix_todos_status_created", "tenant_id", "status", "created_at"),)
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_fk]
    kind: Mapped[str] = mapped_column(String(60))
    entity_type: Mapped[Optional[str]] = mapped_column(String(40))
    entity_id: Mapped[Optional[str]] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(300))
    detail: Mapped[str] = mapped_column(Text, default="")
    dedupe_key: Mapped[Optional[str]] = mapped_column(String(200), unique=True)
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
    entity_id: Mapped[str] = mapped_column(String(60))
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
    tenant_id: Mapped[tenant_fk]
    fingerprint: Mapped[str] = mapped_column(String(64))
    booked_on: Mapped[dt.date] = mapped_column(Date)
    reference: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(300), default="")
    amount: Mapped[money]
    currency: Mapped[currency]
    payout_reference: Mapped[Optional[str]] = mapped_column(String(100))
    imported_at: Mapped[timestamp] = mapped_column(default=_now)



class ReceivableAttribute(Base):
    """A typed attribute of a receivable (taxpayer id, tax type, DLN…) that destination
    processors look up; validated against the schema the processor declares for the kind."""

    __tablename__ = "receivable_attributes"
    __table_args__ = (UniqueConstraint("receivable_id", "name"),
                      Index("ix_receivable_attributes_lookup", "tenant_id", "name", "value"))
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_fk]
    receivable_id: Mapped[int] = mapped_column(ForeignKey("receivables.id"), index=True)
    name: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(String(100))


class PaymentHold(Base):
    """A payment taken for something that does not exist yet (a tax form whose DLN the host
    has not sent): held Pending until a receivable with ``hold_key`` arrives."""

    __tablename__ = "payment_holds"
    __table_args__ = (Index("ix_payment_holds_key", "tenant_id", "hold_key", "state"),)
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_fk]
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
    tenant_id: Mapped[tenant_fk]
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"), index=True)
    reference: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="active")  # AgreementStatus
    reason: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[timestamp] = mapped_column(default=_now)
    updated_at: Mapped[timestamp] = mapped_column(default=_now, onupdate=_now)


class Mandate(Base):
    """A consumer's stored authorisation to be charged without them (a saved card or debit
    mandate), at one gateway configuration."""

    __tablename__ = "mandates"
    __table_args__ = (UniqueConstraint("tenant_id", "reference"),
                      Index("ix_mandates_gateway_reference", "gateway_configuration_id",
                            "gateway_reference"))
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_fk]
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
    tenant_id: Mapped[tenant_fk]
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


class GuestAttempt(Base):
    """One identification attempt by a source (the per-source rate limit counts these)."""

    __tablename__ = "guest_attempts"
    __table_args__ = (Index("ix_guest_attempts_source_at", "tenant_id", "source", "at"),)
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_fk]
    source: Mapped[str] = mapped_column(String(100))
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[timestamp] = mapped_column(default=_now)


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
    status: Mapped[str] = mapped_column(String(20))  # loket.core.autopay.charges.ChargeState
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
    charge_id: Mapped[int] = mapped_column(ForeignKey("autopay_charges.id"), index=True)
    attempt: Mapped[int]
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(20))  # loket.types.ChargeOutcome
    decline_code: Mapped[Optional[str]] = mapped_column(String(100))
    decline_kind: Mapped[Optional[str]] = mapped_column(String(10))
    message: Mapped[Optional[str]] = mapped_column(Text)
    next_attempt_at: Mapped[Optional[timestamp]]
    at: Mapped[timestamp] = mapped_column(default=_now)
class Dispute(Base):
    """A payer's challenge of a payment (chargeback or complaint) and how it ended."""

    __tablename__ = "disputes"
    __table_args__ = (Index("ix_disputes_status_created", "tenant_id", "status", "created_at"),)
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_fk]
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
    tenant_id: Mapped[tenant_fk]
    kind: Mapped[str] = mapped_column(String(30))
    # The payment adjusted (none for a payment plan change: its plan is in ``request``).
    payment_id: Mapped[Optional[int]] = mapped_column(ForeignKey("payments.id"), index=True)
    amount: Mapped[money]
    currency: Mapped[currency]
    request: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20), default="pending")
    maker: Mapped[str] = mapped_column(String(100))
    maker_role: Mapped[str] = mapped_column(String(40))
    checker: Mapped[Optional[str]] = mapped_column(String(100))
    decision_note: Mapped[Optional[str]] = mapped_column(Text)
    result: Mapped[Optional[dict[str, Any]]]
    created_at: Mapped[timestamp] = mapped_column(default=_now)
    decided_at: Mapped[Optional[timestamp]]
    payment: Mapped[Optional[Payment]] = relationship()


# What the KPIs and trends read: money taken by payment time, amounts falling due by date;
# the payments list's default order.
Index("ix_payments_tenant_paid", Payment.tenant_id, Payment.paid_at,
      # PostgreSQL: what the collected sums read, so they are index-only scans.
      postgresql_include=["status", "is_test", "channel", "method", "payment_type",
                          "amount_received", "change_given", "refunded"])
Index("ix_receivables_tenant_due", Receivable.tenant_id, Receivable.due_date)
Index("ix_payments_tenant_created", Payment.tenant_id, Payment.created_at)

TRIGRAM_INDEXES = (
    ("ix_payments_number_trgm", "payments", "number"),
    ("ix_payments_transaction_number_trgm", "payments", "transaction_number"),
    ("ix_payments_receipt_number_trgm", "payments", "receipt_number"),
    ("ix_consumers_name_trgm", "consumers", "name"),
    ("ix_consumers_account_number_trgm", "consumers", "account_number"),
)
"""PostgreSQL's GIN trigram indexes for partial, case-insensitive search
(``lower(column) LIKE '%fragment%'``): created with the tables on PostgreSQL (and by
migration 0022), not declared as indexes (SQLite has no trigram operator class); the
schema comparison leaves them out (:func:`loket.core.migrate.pending_differences`)."""

for _name, _table, _column in TRIGRAM_INDEXES:
    event.listen(Base.metadata.tables[_table], "after_create", DDL(
        "CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql"))
    event.listen(Base.metadata.tables[_table], "after_create", DDL(
        f"CREATE INDEX IF NOT EXISTS {_name} ON {_table} "
        f"USING gin (lower({_column}) gin_trgm_ops)").execute_if(dialect="postgresql"))
class Installation(Base):
    """This installation's identity, generated once and kept (namespaces what loket sends
    to services shared with other installations, such as gateway idempotency keys)."""

    __tablename__ = "installation"
    id: Mapped[intpk]
    installation_id: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[timestamp] = mapped_column(default=_now)


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


class RateLimitWindow(Base):
    """Requests of one source in one fixed window of the public endpoints' rate limit;
    in the database, so every API process counts against the same limit."""

    __tablename__ = "rate_limit_windows"
    bucket: Mapped[str] = mapped_column(String(120), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hits: Mapped[int] = mapped_column(default=0)
class PaymentLink(Base):
    """A link sent to a payer: what it asks for, how much may be paid, until when."""

    __tablename__ = "payment_links"
    __table_args__ = (Index("ix_payment_links_status_created", "tenant_id", "status",
                            "created_at"),)
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_fk]
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


class OutboxEvent(Base):
    """Something that must leave loket because of a change, written in the change's own
    transaction: a host event (``payment.succeeded``…) or a message for a person."""

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_tenant_id_id", "tenant_id", "id"),)
    id: Mapped[intpk]  # the feed cursor
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    event_id: Mapped[str] = mapped_column(String(40), unique=True)  # stable, for dedup
    kind: Mapped[str] = mapped_column(String(20))  # host_event | message
    type: Mapped[str] = mapped_column(String(60))
    ordering_key: Mapped[str] = mapped_column(String(120))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[timestamp] = mapped_column(default=_now)


class HostWebhookEndpoint(Base):
    """A URL of the host that receives signed events."""

    __tablename__ = "host_webhook_endpoints"
    id: Mapped[intpk]
    tenant_id: Mapped[tenant_fk]
    url: Mapped[str] = mapped_column(String(500))
    event_types: Mapped[list[Any]] = mapped_column(default=list)  # empty: every type
    secret_encrypted: Mapped[str] = mapped_column(Text)
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
    event_row_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id"), index=True)
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
