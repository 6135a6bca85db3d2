"""The states of loket's own status columns, one ``StrEnum`` per column.

The database stores the members' string values, so a member compares equal to the stored
string and no migration is needed. Payment states and event types are part of the plugin
contract and live in :mod:`loket.types` (:class:`~loket.types.PaymentStatus`,
:class:`~loket.types.EventType`, :class:`~loket.types.RefundStatus`).
"""

from __future__ import annotations

from enum import StrEnum


class ItemKind(StrEnum):
    """``receivables.kind``: what a host's item is; a payment of one kind has it as its type
    (and the built-in destination processor of the same name pays it)."""

    BILL = "bill"
    SERVICE = "service"
    INSTALLMENT = "installment"


ITEM_KINDS: tuple[str, ...] = tuple(ItemKind)
"""Every item kind, in the order lists show them."""


class ReceivableStatus(StrEnum):
    """``receivables.status``: what the host's bill, charge or installment is now."""

    OPEN = "open"
    PAID = "paid"
    CANCELLED = "cancelled"
    # Taken over by a payment plan made in loket: its installments are what is owed now;
    # it reopens when the plan is cancelled.
    IN_PLAN = "in_plan"


class PlanStatus(StrEnum):
    """``payment_plans.status``."""

    ACTIVE = "active"
    DEFAULTED = "defaulted"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class PlanCompliance(StrEnum):
    """How a payment plan is keeping to its schedule.

    ``on_track``: no installment is unpaid past its due date; ``at_risk``: one is (the
    plan is not defaulted yet); ``defaulted``: the plan defaulted (installments unpaid past
    the grace days reached the tenant's limit).
    """

    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    DEFAULTED = "defaulted"


class ApplicationState(StrEnum):
    """``payments.application_state``: whether the money reached the obligations."""

    PENDING = "pending"
    APPLIED = "applied"
    ERROR = "error"
    ERROR_RESOLVED = "error_resolved"


class AllocationState(StrEnum):
    """``allocations.state``: intended at checkout, posted when paid, void when undone."""

    INTENDED = "intended"
    POSTED = "posted"
    VOID = "void"


class HoldState(StrEnum):
    """``payment_holds.state``: a held payment waits for its target, then is applied (also
    when refunds gave all its money back first: nothing is posted then)."""

    WAITING = "waiting"
    APPLIED = "applied"


class CreditNoteStatus(StrEnum):
    """``credit_notes.status`` (``expired`` is also derived on read from ``expires_at``)."""

    ACTIVE = "active"
    APPLIED = "applied"
    REFUNDED = "refunded"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class EventStatus(StrEnum):
    """``gateway_events.status``: where a received gateway event is in its processing."""

    PENDING = "pending"
    PROCESSED = "processed"
    IGNORED = "ignored"
    DEAD = "dead"
    ORPHAN = "orphan"


class RunState(StrEnum):
    """``reconciliation_runs.state``: a reconciliation file handed to the worker."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class RunKind(StrEnum):
    """``reconciliation_runs.kind``: what the file is."""

    SETTLEMENT_REPORT = "settlement_report"
    BANK_STATEMENT = "bank_statement"


class TodoStatus(StrEnum):
    """``todos.status``."""

    OPEN = "open"
    RESOLVED = "resolved"
