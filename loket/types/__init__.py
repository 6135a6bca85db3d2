"""Value types that cross the plugin boundary (frozen attrs classes), by concept.

Gateway and destination plugins receive and return only these, never ORM rows. Amounts are
:class:`~loket.money.Money` (integer minor units), never floats. Plugins import them from
:mod:`loket.plugin_api`; this package re-exports every one.
"""

from loket.types.destinations import (
    Allocation,
    DestinationDescription,
    DestinationTarget,
    Fee,
    FeeRule,
    LedgerReader,
    Obligation,
    Prepared,
    ResolvedTarget,
)
from loket.types.gateways import (
    CheckoutItem,
    CheckoutRequest,
    CheckoutSession,
    Customer,
    GatewayConfig,
    GatewayDescription,
    GatewayEvent,
    RefundRequest,
    RefundResult,
    SettlementLine,
    StatusMapping,
    WebhookRequest,
)
from loket.types.mandates import (
    ChargeOutcome,
    DeclineKind,
    MandateChargeRequest,
    MandateChargeResult,
    MandateEvent,
    MandateEventType,
    MandateSetup,
    MandateSetupRequest,
    MandateStatus,
    PaymentMethodSummary,
)
from loket.types.outbound import Notification, PaymentInfo, PlanInfo, TrackingEvent, json_safe
from loket.types.states import (
    CANCELLED,
    COMPLETED,
    EVENT_DISPUTE_LOST,
    EVENT_DISPUTE_OPENED,
    EVENT_DISPUTE_UNDER_REVIEW,
    EVENT_DISPUTE_WITHDRAWN,
    EVENT_DISPUTE_WON,
    EVENT_EFFECTS,
    EVENT_EXPIRED,
    EVENT_FAILED,
    EVENT_IGNORED,
    EVENT_PENDING,
    EVENT_REFUND_FAILED,
    EVENT_REFUNDED,
    EVENT_SETTLED,
    EVENT_SETTLEMENT_FAILED,
    EVENT_SUCCEEDED,
    EVENT_TYPES,
    FAILED,
    FAILURE_CATEGORIES,
    INITIATED,
    KEEP,
    PARTIALLY_REFUNDED,
    POSTED,
    REFUNDED,
    SETTLEMENT_RANK,
    SUCCEEDED,
    EventType,
    PaymentStatus,
    RefundStatus,
    SettlementStatus,
)

__all__ = [
    "Allocation", "DestinationDescription", "DestinationTarget", "Fee", "FeeRule",
    "LedgerReader", "Obligation", "Prepared", "ResolvedTarget",
    "CheckoutItem", "CheckoutRequest", "CheckoutSession", "Customer", "GatewayConfig",
    "GatewayDescription", "GatewayEvent", "RefundRequest", "RefundResult", "SettlementLine",
    "StatusMapping", "WebhookRequest",
    "ChargeOutcome", "DeclineKind", "MandateChargeRequest", "MandateChargeResult",
    "MandateEvent", "MandateEventType", "MandateSetup", "MandateSetupRequest", "MandateStatus",
    "PaymentMethodSummary",
    "Notification", "PaymentInfo", "PlanInfo", "TrackingEvent", "json_safe",
    "CANCELLED", "COMPLETED", "EVENT_DISPUTE_LOST", "EVENT_DISPUTE_OPENED",
    "EVENT_DISPUTE_UNDER_REVIEW", "EVENT_DISPUTE_WITHDRAWN", "EVENT_DISPUTE_WON", "EVENT_EFFECTS",
    "EVENT_EXPIRED", "EVENT_FAILED",
    "EVENT_IGNORED", "EVENT_PENDING", "EVENT_REFUND_FAILED", "EVENT_REFUNDED", "EVENT_SETTLED",
    "EVENT_SETTLEMENT_FAILED", "EVENT_SUCCEEDED", "EVENT_TYPES", "FAILED",
    "FAILURE_CATEGORIES", "INITIATED", "KEEP", "PARTIALLY_REFUNDED", "POSTED", "REFUNDED",
    "SETTLEMENT_RANK", "SUCCEEDED", "EventType", "PaymentStatus", "RefundStatus",
    "SettlementStatus",
]
