"""The words of the contract: payment states, event types, refund results, settlement words.

Every one is a :class:`~enum.StrEnum`, so a plugin may pass the enum member or its string.
"""

from __future__ import annotations

from enum import StrEnum


class PaymentStatus(StrEnum):
    """A payment's state (the one state machine lives in loket.core.payments.lifecycle)."""

    INITIATED = "initiated"
    SUCCEEDED = "succeeded"
    COMPLETED = "completed"
    POSTED = "posted"
    FAILED = "failed"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"
    CANCELLED = "cancelled"


INITIATED = PaymentStatus.INITIATED
SUCCEEDED = PaymentStatus.SUCCEEDED
COMPLETED = PaymentStatus.COMPLETED
POSTED = PaymentStatus.POSTED
FAILED = PaymentStatus.FAILED
REFUNDED = PaymentStatus.REFUNDED
PARTIALLY_REFUNDED = PaymentStatus.PARTIALLY_REFUNDED
CANCELLED = PaymentStatus.CANCELLED


class EventType(StrEnum):
    """Normalized event types a gateway's parse/fetch hooks return; what loket does with each
    is in the table of ``docs/plugin-reference.md`` (:data:`EVENT_EFFECTS`)."""

    PENDING = "payment.pending"
    SUCCEEDED = "payment.succeeded"
    FAILED = "payment.failed"
    EXPIRED = "payment.expired"
    REFUNDED = "payment.refunded"
    SETTLED = "payment.settled"
    SETTLEMENT_FAILED = "settlement.failed"
    REFUND_FAILED = "refund.failed"
    # A payer's bank challenges a payment (chargeback); ``dispute_reference`` names it.
    DISPUTE_OPENED = "dispute.opened"
    DISPUTE_UNDER_REVIEW = "dispute.under_review"
    DISPUTE_WON = "dispute.won"
    DISPUTE_LOST = "dispute.lost"
    DISPUTE_WITHDRAWN = "dispute.withdrawn"
    IGNORED = "ignored"


EVENT_PENDING = EventType.PENDING
EVENT_SUCCEEDED = EventType.SUCCEEDED
EVENT_FAILED = EventType.FAILED
EVENT_EXPIRED = EventType.EXPIRED
EVENT_REFUNDED = EventType.REFUNDED
EVENT_SETTLED = EventType.SETTLED
EVENT_SETTLEMENT_FAILED = EventType.SETTLEMENT_FAILED
EVENT_REFUND_FAILED = EventType.REFUND_FAILED
EVENT_DISPUTE_OPENED = EventType.DISPUTE_OPENED
EVENT_DISPUTE_UNDER_REVIEW = EventType.DISPUTE_UNDER_REVIEW
EVENT_DISPUTE_WON = EventType.DISPUTE_WON
EVENT_DISPUTE_LOST = EventType.DISPUTE_LOST
EVENT_DISPUTE_WITHDRAWN = EventType.DISPUTE_WITHDRAWN
EVENT_IGNORED = EventType.IGNORED
EVENT_TYPES = tuple(EventType)

EVENT_EFFECTS: dict[EventType, tuple[str, str]] = {
    EventType.PENDING: (
        "1.0", "Nothing decided yet. With a ``failure_message`` it is a declined *attempt* on "
        "a checkout that stays open (the payer may try again): the gateway's words are kept "
        "for the payer, the payment stays ``initiated``."),
    EventType.SUCCEEDED: (
        "1.0", "The money was taken: the payment becomes ``succeeded`` and pays its bills. "
        "``amount`` must equal what was charged (otherwise a to-do for staff)."),
    EventType.FAILED: (
        "1.0", "The checkout ended without payment: the payment becomes ``failed`` with "
        "``failure_message``/``failure_code``/``failure_category``."),
    EventType.EXPIRED: (
        "1.0", "The checkout expired unpaid: the payment becomes ``failed`` (category "
        "``expired``)."),
    EventType.REFUNDED: (
        "1.0", "Money went back to the payer (``amount`` = this refund, "
        "``refund_reference`` = the gateway's refund id): the refund is recorded as "
        "succeeded and the payment becomes ``refunded`` or ``partially_refunded``."),
    EventType.SETTLED: (
        "1.0", "The gateway paid the money out to the tenant: the payment becomes "
        "``completed`` (``details['fee']``/``['net']`` in minor units, ``payout_reference``)."),
    EventType.SETTLEMENT_FAILED: (
        "1.0", "A payout failed: settlement status ``Failed`` and a to-do; with only a "
        "``payout_reference``, every payment of that payout."),
    EventType.REFUND_FAILED: (
        "1.1", "A refund the gateway had accepted (``pending``) failed: the refund is marked "
        "failed, the payment stays paid, staff get a to-do."),
    EventType.DISPUTE_OPENED: (
        "1.3", "The payer's bank opened a dispute (``dispute_reference``, ``amount`` "
        "disputed, ``details['reason']``): loket opens a dispute on the payment, for at most "
        "what can still be given back."),
    EventType.DISPUTE_UNDER_REVIEW: (
        "1.3", "Evidence is with the bank: the dispute moves to ``under_review``."),
    EventType.DISPUTE_WON: (
        "1.3", "The bank decided for the tenant: the dispute is ``won``, the money stays."),
    EventType.DISPUTE_LOST: (
        "1.3", "The bank decided for the payer: the dispute is ``lost`` and the money goes "
        "back like a refund (the items reopen, the recovery team gets a to-do)."),
    EventType.DISPUTE_WITHDRAWN: (
        "1.3", "The dispute or inquiry closed without a chargeback: ``withdrawn``."),
    EventType.IGNORED: (
        "1.0", "Nothing for loket (another product's event, a mandate event): stored, not "
        "applied."),
}
"""What loket does with each event type, and since which contract version it exists."""


class RefundStatus(StrEnum):
    """A refund's result (``RefundResult.status``, refund rows).

    ``succeeded``: the money went back; the payment shows it at once. ``pending``: the
    gateway accepted the refund and will say later (``payment.refunded`` or
    ``refund.failed``); until then the payment does **not** show it refunded. ``failed``:
    the gateway refused it at once (loket raises a to-do for a manual refund).
    """

    SUCCEEDED = "succeeded"
    PENDING = "pending"
    FAILED = "failed"


class SettlementStatus(StrEnum):
    """The settlement words loket keeps on a payment (``StatusMapping.settlement_status``).

    They only move forward (``N/A`` < ``In Progress`` < ``Success`` < ``Failed``), so a late
    event cannot undo a settlement. ``(keep)`` leaves the payment's word as it is.

    .. versionadded:: 1.3
    """

    NOT_APPLICABLE = "N/A"
    IN_PROGRESS = "In Progress"
    SUCCESS = "Success"
    FAILED = "Failed"
    KEEP = "(keep)"


KEEP = "(keep)"
"""In a :class:`~loket.types.StatusMapping`, leave the payment's word as it is (either
field; contract 1.3)."""

SETTLEMENT_RANK: dict[str, int] = {
    SettlementStatus.NOT_APPLICABLE: 0, SettlementStatus.IN_PROGRESS: 1,
    SettlementStatus.SUCCESS: 2, SettlementStatus.FAILED: 3,
}
"""The order settlement words move in (a failed payout outranks ``Success``: some payouts
show paid first, then fail)."""

FAILURE_CATEGORIES = (
    "declined", "insufficient_funds", "network", "technical", "abandoned", "timeout", "expired",
)
"""Failure categories shown to staff and payers (``GatewayEvent.failure_category``)."""
