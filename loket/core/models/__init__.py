"""ORM rows (SQLAlchemy 2.x typed declarative), one module per concept. They stay inside
the core; everything is importable from ``loket.core.models``.

Money columns are integers in minor units with a currency column beside them.
"""

from loket.core.models.autopay import (
    AutopayAttempt,
    AutopayCharge,
    AutopayElection,
    Mandate,
    MandateEventRow,
)
from loket.core.models.base import Base, UTCDateTime
from loket.core.models.gateways import (
    GatewayConfiguration,
    GatewayEventRow,
    UnknownWebhookTally,
    WebhookDelivery,
)
from loket.core.models.host import PaymentPlan, Receivable, ReceivableAttribute
from loket.core.models.indexes import TRIGRAM_INDEXES
from loket.core.models.links import PaymentLink
from loket.core.models.outbox import HostWebhookEndpoint, OutboxDelivery, OutboxEvent
from loket.core.models.outbox_feed import OutboxFeedCommit
from loket.core.models.payments import (
    Allocation,
    Approval,
    CreditNote,
    CreditNoteApplication,
    Dispute,
    Payment,
    PaymentAgreement,
    PaymentHold,
    Refund,
)
from loket.core.models.reconciliation import (
    BankStatementLine,
    ReconciliationRun,
    SettlementRecord,
)
from loket.core.models.records import (
    AuditEntry,
    GuestAttempt,
    IdempotencyKey,
    NumberSequence,
    RateLimitWindow,
    Todo,
    TrackingEventRow,
)
from loket.core.models.tallies import PaymentDayTally, PaymentStatusTally, PaymentTallyChange
from loket.core.models.tenants import ApiKey, Consumer, Installation, Tenant, TenantSettings

__all__ = [
    "TRIGRAM_INDEXES",
    "Allocation",
    "ApiKey",
    "Approval",
    "AuditEntry",
    "AutopayAttempt",
    "AutopayCharge",
    "AutopayElection",
    "BankStatementLine",
    "Base",
    "Consumer",
    "CreditNote",
    "CreditNoteApplication",
    "Dispute",
    "GatewayConfiguration",
    "GatewayEventRow",
    "GuestAttempt",
    "HostWebhookEndpoint",
    "IdempotencyKey",
    "Installation",
    "Mandate",
    "MandateEventRow",
    "NumberSequence",
    "OutboxDelivery",
    "OutboxEvent",
    "OutboxFeedCommit",
    "Payment",
    "PaymentDayTally",
    "PaymentStatusTally",
    "PaymentTallyChange",
    "PaymentAgreement",
    "PaymentHold",
    "PaymentLink",
    "PaymentPlan",
    "RateLimitWindow",
    "Receivable",
    "ReceivableAttribute",
    "Refund",
    "ReconciliationRun",
    "SettlementRecord",
    "Tenant",
    "TenantSettings",
    "Todo",
    "TrackingEventRow",
    "UTCDateTime",
    "UnknownWebhookTally",
    "WebhookDelivery",
]
