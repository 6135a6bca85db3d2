"""Staff actions on existing payments and to-dos: verify an online payment with its gateway,
edit notes, cancel a posted counter payment, resolve a to-do. Each writes its audit row.

Who may do what is the server's role matrix; these functions only keep the data right.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from loket import types as t
from loket.core import audit
from loket.core.gateway_configs import configs
from loket.core.host.obligations import unpay
from loket.core.host.plan_debts import keep_debts, lock_plans_of
from loket.core.models import (
    Allocation,
    CreditNote,
    GatewayConfiguration,
    Payment,
    Todo,
)
from loket.core.payments import credit_notes, lifecycle, unapplied
from loket.core.payments.invariants import check_invariants
from loket.core.payments.posting import (
    lock_payment,
    lock_receivables,
    refresh_state,
    snapshot,
)
from loket.core.settings import load_settings
from loket.core.states import (
    AllocationState,
    ApplicationState,
    CreditNoteStatus,
    TodoStatus,
)
from loket.core.webhooks import outcomes
from loket.errors import Conflict, ValidationFailed
from loket.money import Money


def verify_payment(ctx, session: Session, actor: audit.Actor, payment: Payment) -> Payment:
    """Ask the gateway for an online payment's status, apply what it says, and mark the
    payment ``verified`` when the gateway confirms the money was taken.

    :raises ValidationFailed: a counter payment (already verified when posted).
    :raises GatewayError: the gateway could not be asked (nothing changes).
    """
    if payment.gateway_configuration_id is None:
        raise ValidationFailed(f"payment {payment.number} was posted at a counter and is "
                               "already verified", field="payment")
    row = session.get_one(GatewayConfiguration, payment.gateway_configuration_id)
    event = ctx.plugins.fetch_status(configs.config_value(ctx, session, row), payment.number,
                                     payment.gateway_reference)
    if event is not None and event.type != t.EVENT_PENDING:
        outcomes.apply_event(ctx, session, row, event)
    payment = lock_payment(session, payment.id)
    details = dict(payment.gateway_details or {})
    details["verified_status"] = getattr(event, "raw_status", None) or (
        event.type if event else "unknown")
    payment.gateway_details = details
    before = {"verification": payment.verification}
    if payment.status in lifecycle.MONEY_TAKEN:
        payment.verification = "verified"
    audit.record(session, actor, "payment.verified", "payment", payment.number, before=before,
                 after={"verification": payment.verification, "status": payment.status,
                        "gateway_status": details["verified_status"]},
                 tenant_id=payment.tenant_id)
    return payment


def edit_notes(session: Session, actor: audit.Actor, payment: Payment, notes: str) -> Payment:
    """Replace a payment's notes (limited by the tenant's ``notes_max_length``)."""
    limit = load_settings(session, payment.tenant_id)["notes_max_length"]
    if len(notes) > limit:
        raise ValidationFailed(f"notes are limited to {limit} characters", field="notes")
    before = {"notes": payment.notes}
    payment.notes = notes
    audit.record(session, actor, "payment.notes_edited", "payment", payment.number,
                 before=before, after={"notes": notes}, tenant_id=payment.tenant_id)
    return payment


def cancel_posted(ctx, session: Session, actor: audit.Actor, payment: Payment,
                  reason: str) -> Payment:
    """Void a counter payment recorded in error: its allocations are reversed (the items
    reopen; what a payment plan covers stays owed through the plan,
    :mod:`loket.core.host.plan_debts`) and its unused automatic credit note is voided.

    :raises ValidationFailed: not a posted counter payment, or its credit note was used.
    """
    payment = lock_payment(session, payment.id)
    lock_plans_of(session, payment.id)  # after the payment, before its receivables
    if payment.status != t.POSTED:
        raise ValidationFailed(f"only posted counter payments can be cancelled; payment "
                               f"{payment.number} is {payment.status}", field="payment")
    notes = session.scalars(select(CreditNote).where(CreditNote.payment_id == payment.id)
                            .with_for_update()).all()
    if any(n.applied for n in notes):
        raise ValidationFailed("a credit note of this payment was already applied; cancel "
                               "that first", field="payment")
    before = snapshot(payment)
    for note in notes:
        credit_notes.announce_void(session, note, payment, "credit_note.cancelled",
                                   ctx.now(), reason=reason)
        note.status = CreditNoteStatus.CANCELLED
        note.reversed = note.amount
    allocations = session.scalars(select(Allocation).where(
        Allocation.payment_id == payment.id, Allocation.state == AllocationState.POSTED)).all()
    receivables = lock_receivables(session, [a.receivable_id for a in allocations])
    taken = []
    for allocation in allocations:
        part = allocation.amount - allocation.reversed
        receivable = receivables[allocation.receivable_id]
        unpay(receivable, part)
        taken.append((receivable, part))
        allocation.reversed = allocation.amount
        allocation.state = AllocationState.VOID
    keep_debts(session, taken, f"payment {payment.number} cancelled by {actor.name}",
               ctx.now())
    payment.cancelled_at = ctx.now()
    payment.notes = (payment.notes + "\n" if payment.notes else "") + f"Cancelled: {reason}"
    refresh_state(ctx, session, actor, payment, "payment.cancelled", before)
    check_invariants(session, payment)
    return payment


def retry_application(ctx, session: Session, actor: audit.Actor, payment: Payment) -> Payment:
    """Apply again a payment whose application failed after the gateway took the money
    (OPC service-task Error -> Error Resolved). What was refunded meanwhile is not applied:
    only what the payment kept (nothing, refunded in full). On success its open apply
    to-dos are resolved; on failure a new to-do says why.

    :raises ValidationFailed: the payment's application is not in error.
    """
    payment = lock_payment(session, payment.id)
    if payment.application_state != ApplicationState.ERROR:
        raise ValidationFailed(f"payment {payment.number} has no failed application to retry",
                               field="payment")
    taken = (payment.gateway_details or {}).get("amount_taken")
    if taken is not None and taken != payment.amount_received:
        raise ValidationFailed(
            f"the gateway took {Money(taken, payment.currency).format()}, not "
            f"{Money(payment.amount_received, payment.currency).format()}: refund it or settle "
            f"the difference by hand; a retry would apply money that was never received",
            field="payment")
    before = snapshot(payment)
    if unapplied.refunded_in_full(payment):  # what was kept is applied, never more
        unapplied.nothing_to_apply(session, payment)
    else:
        unapplied.deduct_refunds(session, actor, payment, "payment.refund_deducted")
        outcomes.apply_intended(ctx, session, payment)
    if payment.application_state == ApplicationState.APPLIED:
        for todo in session.scalars(select(Todo).where(
                Todo.entity_type == "payment", Todo.entity_id == payment.number,
                Todo.status == TodoStatus.OPEN, Todo.kind.in_(("payment.apply_failed",
                                                      "payment.amount_mismatch")))):
            _close(ctx, session, actor, todo, "Error Resolved: applied on retry")
    refresh_state(ctx, session, actor, payment, "payment.application_retried", before)
    return payment


def resolve_todo(ctx, session: Session, actor: audit.Actor, todo: Todo,
                 resolution: str) -> Todo:
    """Close a to-do with what was done about it. Closing a failed application by hand
    (the money was applied outside loket) marks the payment's application
    ``error_resolved`` (OPC); a retry that succeeds makes it ``applied`` instead.

    The to-do is re-read under its row lock: of two people resolving it at once, the second
    waits for the first and is refused.

    :raises Conflict: the to-do is already resolved (field ``todo``).
    """
    session.refresh(todo, with_for_update=True)
    if todo.status != TodoStatus.OPEN:
        raise Conflict(f"this to-do is already resolved by {todo.resolved_by}", field="todo")
    if todo.kind == "payment.apply_failed" and todo.entity_type == "payment":
        payment = session.scalar(select(Payment).where(Payment.tenant_id == todo.tenant_id,
                                                       Payment.number == todo.entity_id))
        if payment is not None and payment.application_state == ApplicationState.ERROR:
            payment.application_state = ApplicationState.ERROR_RESOLVED
    return _close(ctx, session, actor, todo, resolution)


def _close(ctx, session: Session, actor: audit.Actor, todo: Todo, resolution: str) -> Todo:
    todo.status = TodoStatus.RESOLVED
    todo.resolution = resolution
    todo.resolved_by = actor.name
    todo.resolved_at = ctx.now()
    audit.record(session, actor, "todo.resolved", "todo", todo.id, before={"status": "open"},
                 after={"status": "resolved", "resolution": resolution},
                 tenant_id=todo.tenant_id)
    return todo

