"""Refunds of a payment, full or partial, by staff.

Online payments are refunded through the gateway's refund hook; counter payments are
recorded as paid back at the counter. A gateway that cannot refund online raises a to-do for
a manual refund and nothing is recorded as refunded.

The money comes back out of the items the payment paid, which are owed again. An item a
payment plan has taken over since, or a plan's installment, stays owed through its plan
(:mod:`loket.core.host.plan_debts`: a new installment of the plan, a completed plan active
again): a refund is never refused for it, and the debt is never owed nowhere.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core import audit, idempotency
from loket.core.db import commit_then_raise
from loket.core.gateway_configs import configs
from loket.core.host.obligations import unpay
from loket.core.host.plan_debts import keep_debts, lock_plans_of
from loket.core.models import (
    Allocation,
    CreditNote,
    GatewayConfiguration,
    Payment,
    Refund,
    Todo,
)
from loket.core.payments import lifecycle
from loket.core.payments.invariants import check_invariants, give_back_capacity
from loket.core.payments.posting import (
    lock_payment,
    lock_receivables,
    refresh_state,
    snapshot,
)
from loket.core.states import AllocationState, CreditNoteStatus, TodoStatus
from loket.core.todos import raise_todo
from loket.errors import LoketError, RefundNotPossible, ValidationFailed
from loket.money import Money
from loket.types import RefundRequest, RefundStatus

REASON_MAX = 200  # characters of a refund's reason: the column's, and the API's maxLength


def refund_payment(ctx, session: Session, actor: audit.Actor, payment: Payment, amount: str,
                   reason: str, idempotency_key: str | None = None) -> Payment:
    """Refund ``amount`` (decimal string) of a payment.

    :param idempotency_key: a retry with it after the first succeeded is answered as the
        first was; after the first failed without an answer (lost) it asks the gateway for
        the same refund (:func:`refund_id`), which the gateway makes once (if the gateway's
        event recorded it meanwhile, the retry is refused as more than is left to refund).
    :raises ValidationFailed: as :func:`check_refund`.
    :raises RefundNotPossible: the gateway refused or cannot refund online; raised once the
        to-do for the manual refund is committed (nothing is recorded as refunded).
    """
    row, prior = idempotency.claim(session, payment.tenant_id, f"refund:{payment.id}",
                                   idempotency_key, {"amount": amount, "reason": reason})
    if prior is not None:
        return session.get_one(Payment, payment.id)
    payment = lock_payment(session, payment.id)  # its plans once the gateway answered
    value = check_refund(session, payment, amount, reason)
    available = give_back_capacity(session, payment)
    before = snapshot(payment)
    reference = None
    status = RefundStatus.SUCCEEDED
    if payment.gateway_configuration_id is not None:
        config_row = session.get_one(GatewayConfiguration, payment.gateway_configuration_id)
        try:
            result = ctx.plugins.refund(
                configs.config_value(ctx, session, config_row),
                RefundRequest(refund_id=refund_id(payment, idempotency_key, value.amount),
                              payment_id=payment.number,
                              gateway_reference=payment.gateway_reference or "",
                              amount=value, captured=Money(available, payment.currency),
                              reason=reason or "requested_by_customer",
                              details=payment.gateway_details or {}))
            if result.status == RefundStatus.FAILED:  # refused at once: a refund by hand
                raise RefundNotPossible("the gateway refused the refund", gateway_message=str(
                    result.raw.get("message", "")) or None)
        except RefundNotPossible as exc:
            raise_todo(session, payment.tenant_id, "payment.manual_refund",
                       f"Refund {value.format()} of payment {payment.number} by hand",
                       detail=exc.gateway_message or exc.detail, entity_type="payment",
                       entity_id=payment.number)
            if row is not None:
                session.delete(row)  # the key may be used again once refunded by hand
            commit_then_raise(session, exc)
            return payment
        reference, status = result.refund_reference, result.status
    record_refund(session, payment, value.amount, reference, status, reason, actor.name,
                  now=ctx.now())
    refresh_state(ctx, session, actor, payment, "payment.refunded", before)
    check_invariants(session, payment)
    if row is not None:
        idempotency.remember(session, row, {"payment_id": payment.id})
    return payment


def check_refund(session: Session, payment: Payment, amount: str, reason: str = "") -> Money:
    """Check a refund of ``amount`` (decimal string) of ``payment`` without making it: by
    :func:`refund_payment`, and before a refund above the approval threshold is kept for a
    second person (:func:`loket.core.payments.approvals.request_approval`), so that nothing
    waits that could never be carried out.

    :returns: the amount. :raises ValidationFailed: the payment took no money; a reason
        longer than :data:`REASON_MAX` characters; an amount not positive or above what is
        left to refund (:func:`~loket.core.payments.invariants.give_back_capacity`).
    """
    if payment.status not in lifecycle.MONEY_TAKEN:
        raise ValidationFailed(f"payment {payment.number} is {payment.status}: there is no "
                               f"money to refund", field="payment")
    if len(reason or "") > REASON_MAX:
        raise ValidationFailed(f"reason must be at most {REASON_MAX} characters",
                               field="reason")
    value = Money.parse(amount, payment.currency, field="amount")
    available = give_back_capacity(session, payment)
    if value.amount <= 0 or value.amount > available:
        raise ValidationFailed(f"refund must be more than zero and at most "
                               f"{Money(available, payment.currency).format()}", field="amount")
    return value


def refund_id(payment: Payment, idempotency_key: str | None, amount: int) -> str:
    """The id a gateway makes a refund of ``payment`` once under: derived from the request's
    ``idempotency_key`` and ``amount`` (minor units), so a request retried after its answer
    was lost (a timeout) asks for the same refund and the gateway does not refund twice,
    and a key used again for another amount (allowed after a refusal) is another refund;
    without a key, a new id for each request (never one an earlier request used)."""
    seed = f"{idempotency_key}:{amount}" if idempotency_key is not None else uuid.uuid4().hex
    digest = hashlib.sha256(seed.encode()).hexdigest()[:16].upper()
    return f"{payment.number}-R{digest}"


def record_refund(session: Session, payment: Payment, amount: int, reference: str | None,
                  status: str, reason: str, actor_name: str,
                  now: dt.datetime | None = None) -> bool:
    """Record a refund once (by its gateway reference). A ``succeeded`` refund gives the
    money back from the payment: first what sits unapplied in its automatic credit note,
    then its allocations, newest first (those receivables reopen; what a payment plan
    covers stays owed through the plan, :mod:`loket.core.host.plan_debts`). A ``pending``
    one only holds its amount (nothing shows refunded) until the gateway confirms it:
    recording the same reference again as ``succeeded`` then gives the money back. A
    ``failed`` one is kept for the record and moves nothing. A connection test's payment
    refunded in full so closes the to-do that asked staff to refund it by hand
    (:func:`close_connection_test_todo`).

    :param now: the current time, for a plan's new installment (default the system clock).
    :returns: whether anything changed.
    """
    existing = session.scalar(select(Refund).where(
        Refund.payment_id == payment.id, Refund.gateway_reference == reference)) \
        if reference else None
    if existing is not None:
        if existing.status != RefundStatus.PENDING or status == RefundStatus.PENDING:
            return False
        existing.status = status  # the gateway decided a pending refund
        if status == RefundStatus.SUCCEEDED:
            _give_back(session, payment, existing.amount, _cause(payment, reason, actor_name),
                       now)
        return True
    available = give_back_capacity(session, payment)
    if amount <= 0 or amount > available:
        raise LoketError(f"refund of {amount} exceeds what payment {payment.number} can "
                         f"still refund ({available})")
    session.add(Refund(tenant_id=payment.tenant_id, payment_id=payment.id, amount=amount,
                       currency=payment.currency, status=status, gateway_reference=reference,
                       reason=reason, created_by=actor_name))
    if status == RefundStatus.SUCCEEDED:
        _give_back(session, payment, amount, _cause(payment, reason, actor_name), now)
    return True


def connection_test_todo_key(payment: Payment) -> str:
    """The key of the one to-do asking staff to refund a connection test's payment by hand
    (:mod:`loket.core.gateway_configs.connection_test`)."""
    # The payment's id, not its number: numbers repeat across tenants.
    return f"test-refund:{payment.id}"


def close_connection_test_todo(session: Session, payment: Payment, resolution: str,
                               now: dt.datetime | None = None) -> None:
    """Close the open to-do asking staff to refund the connection test payment ``payment``
    by hand, if there is one, with ``resolution``; audited as loket's.

    Called once the payment is refunded in full (by whoever refunded it: staff, the
    gateway's report of a refund made at the gateway, the connection test's retry), so
    nobody refunds it a second time.
    """
    todo = session.scalar(select(Todo).where(
        Todo.tenant_id == payment.tenant_id, Todo.status == TodoStatus.OPEN,
        Todo.dedupe_key == connection_test_todo_key(payment)))
    if todo is None:
        return
    todo.status = TodoStatus.RESOLVED
    todo.resolution = resolution
    todo.resolved_by = audit.SYSTEM.name
    todo.resolved_at = now or dt.datetime.now(dt.UTC)
    audit.record(session, audit.SYSTEM, "todo.resolved", "todo", todo.id,
                 before={"status": "open"},
                 after={"status": "resolved", "resolution": resolution},
                 tenant_id=todo.tenant_id)


def _cause(payment: Payment, reason: str, actor_name: str) -> str:
    return f"refund of payment {payment.number} by {actor_name}" + (
        f" ({reason})" if reason else "")


def _give_back(session: Session, payment: Payment, amount: int, cause: str,
               now: dt.datetime | None) -> None:
    payment.refunded += amount
    remaining = amount
    for note in session.scalars(select(CreditNote).where(
            CreditNote.payment_id == payment.id, CreditNote.automatic.is_(True))
            .order_by(CreditNote.id).with_for_update()
            .execution_options(populate_existing=True)):
        part = min(remaining, note.amount - note.applied - note.reversed)
        note.reversed += part
        remaining -= part
        if note.amount == note.applied + note.reversed:
            note.status = (CreditNoteStatus.APPLIED if note.applied
                           else CreditNoteStatus.REFUNDED)
    allocations = session.scalars(select(Allocation).where(
        Allocation.payment_id == payment.id, Allocation.state == AllocationState.POSTED)
        .order_by(Allocation.id.desc())).all()
    lock_plans_of(session, payment.id)  # after the payment, before the receivables
    receivables = lock_receivables(session, [a.receivable_id for a in allocations])
    taken = []
    for allocation in allocations:
        if remaining <= 0:
            break
        part = min(remaining, allocation.amount - allocation.reversed)
        if part <= 0:
            continue
        allocation.reversed += part
        receivable = receivables[allocation.receivable_id]
        unpay(receivable, part)
        taken.append((receivable, part))
        remaining -= part
    keep_debts(session, taken, cause, now)
    if payment.is_test and payment.refunded >= lifecycle.refundable(payment):
        close_connection_test_todo(session, payment,
                                   f"the payment is refunded in full: {cause}", now)
