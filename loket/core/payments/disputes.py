"""Disputes: a payer challenges a payment (a chargeback, a complaint) and staff see it
through to its end.

States: open -> under_review -> won | lost | withdrawn (withdrawn also straight from open).
Every change and every evidence note is kept in the dispute's history with who and when,
and audited. A lost dispute takes the disputed money back like a refund (the items it paid
reopen; what a payment plan covers stays owed through the plan) and raises a to-do for the
recovery team. A loss staff declare above the tenant's ``approvals.refund_above`` waits for a
second person, as a refund of that amount would
(:func:`loket.core.payments.approvals.move_dispute`).

A dispute a gateway reported (it has a ``gateway_reference``) is decided by the gateway,
which holds the money: staff may add notes and move it ``under_review``, but not close it
(409 on ``status``). The gateway's outcome is applied even to such a dispute closed in
loket before (by staff, before they were kept from it): a loss takes the money back all
the same; a win or a withdrawal after a loss loket recorded raises a
``dispute.outcome_changed`` to-do, as the money was taken back already.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.backoffice.paging import Page, contains, paginate
from loket.core.models import Consumer, Dispute, Payment
from loket.core.payments import lifecycle
from loket.core.payments.invariants import check_invariants, give_back_capacity
from loket.core.payments.posting import (
    lock_payment,
    refresh_state,
    snapshot,
)
from loket.core.payments.refunds import record_refund
from loket.core.todos import raise_todo
from loket.errors import Conflict, NotFound, ValidationFailed
from loket.money import Money
from loket.types import EventType, GatewayEvent


class DisputeStatus(enum.StrEnum):
    """Where a dispute stands."""

    OPEN = "open"
    UNDER_REVIEW = "under_review"
    WON = "won"
    LOST = "lost"
    WITHDRAWN = "withdrawn"


TRANSITIONS: dict[DisputeStatus, frozenset[DisputeStatus]] = {
    DisputeStatus.OPEN: frozenset({DisputeStatus.UNDER_REVIEW, DisputeStatus.WITHDRAWN}),
    DisputeStatus.UNDER_REVIEW: frozenset({DisputeStatus.WON, DisputeStatus.LOST,
                                           DisputeStatus.WITHDRAWN}),
    DisputeStatus.WON: frozenset(),
    DisputeStatus.LOST: frozenset(),
    DisputeStatus.WITHDRAWN: frozenset(),
}
CLOSED = frozenset({DisputeStatus.WON, DisputeStatus.LOST, DisputeStatus.WITHDRAWN})
REASON_MAX = 200  # characters: the column's, and the API's maxLength
NOTE_MAX = 2000  # characters of a note (the history's), as the API's maxLength


def _entry(ctx: Any, actor: audit.Actor, note: str, status: str | None = None) -> dict:
    return {"at": ctx.now().isoformat(), "by": actor.name, "role": actor.role, "note": note,
            "status": status}


def _check_length(text: str, limit: int, field: str) -> None:
    if len(text) > limit:
        raise ValidationFailed(f"{field} must be at most {limit} characters", field=field)


def _audit_view(dispute: Dispute) -> dict:
    return {"status": dispute.status, "amount": dispute.amount,
            "amount_taken_back": dispute.amount_taken_back}


def open_dispute(ctx: Any, session: Session, actor: audit.Actor, payment: Payment,
                 amount: str | None, reason: str, notes: str = "",
                 gateway_reference: str | None = None) -> Dispute:
    """Open a dispute on a payment that took money, for ``amount`` (decimal string; default
    all that could still be given back).

    :raises ValidationFailed: the payment took no money, a blank reason, a reason longer
        than :data:`REASON_MAX` or notes longer than :data:`NOTE_MAX` characters, or an
        amount not above zero or above what could still be given back.
    """
    if payment.status not in lifecycle.MONEY_TAKEN:
        raise ValidationFailed(f"payment {payment.number} is {payment.status}: there is no "
                               f"money to dispute", field="payment")
    if not reason.strip():
        raise ValidationFailed("a reason is required", field="reason")
    _check_length(reason.strip(), REASON_MAX, "reason")
    _check_length(notes, NOTE_MAX, "notes")
    capacity = give_back_capacity(session, payment)
    value = Money.parse(amount, payment.currency).amount if amount else capacity
    if value <= 0 or value > capacity:
        raise ValidationFailed(f"the disputed amount must be more than zero and at most "
                               f"{Money(capacity, payment.currency).format()}", field="amount")
    now = ctx.now()
    dispute = Dispute(tenant_id=payment.tenant_id, payment_id=payment.id, amount=value,
                      currency=payment.currency, reason=reason.strip(),
                      status=DisputeStatus.OPEN.value, amount_taken_back=0,
                      gateway_reference=gateway_reference, opened_by=actor.name,
                      created_at=now,
                      history=[_entry(ctx, actor, notes or "opened", DisputeStatus.OPEN)])
    session.add(dispute)
    session.flush()
    audit.record(session, actor, "dispute.opened", "dispute", dispute.id,
                 after={**_audit_view(dispute), "payment": payment.number,
                        "reason": dispute.reason}, tenant_id=payment.tenant_id)
    return dispute


def add_note(ctx: Any, session: Session, actor: audit.Actor, dispute: Dispute,
             note: str) -> Dispute:
    """Add an evidence note (kept with who and when; audited).

    :raises ValidationFailed: a blank note, or one longer than :data:`NOTE_MAX` characters.
    :raises Conflict: the dispute is closed.
    """
    if not note.strip():
        raise ValidationFailed("the note is empty", field="note")
    _check_length(note.strip(), NOTE_MAX, "note")
    _lock(session, dispute)
    if DisputeStatus(dispute.status) in CLOSED:
        raise Conflict(f"dispute {dispute.id} is {dispute.status}", field="status")
    dispute.history = [*dispute.history, _entry(ctx, actor, note.strip())]
    audit.record(session, actor, "dispute.noted", "dispute", dispute.id,
                 after={"note": note.strip()}, tenant_id=dispute.tenant_id)
    return dispute


def check_move(dispute: Dispute, to: str, note: str = "") -> DisputeStatus:
    """Check a move staff ask for without making it: by :func:`move`, and before a loss
    waits for approval (nothing waits that could never be carried out).

    :returns: the state moved to.
    :raises ValidationFailed: an unknown state, or a note longer than :data:`NOTE_MAX`
        characters. :raises Conflict: a move the state machine does not allow (e.g. out of a
        closed dispute), or closing a dispute the gateway decides (both on ``status``).
    """
    try:
        target = DisputeStatus(to)
    except ValueError:
        raise ValidationFailed(f"unknown dispute state {to!r}", field="status") from None
    _check_length(note.strip(), NOTE_MAX, "note")
    current = DisputeStatus(dispute.status)
    if target not in TRANSITIONS[current]:
        raise Conflict(f"a dispute that is {current} cannot become {target}", field="status")
    if dispute.gateway_reference is not None and target in CLOSED:
        raise Conflict(f"dispute {dispute.id} is decided by the gateway that reported it "
                       f"({dispute.gateway_reference}): add notes; its own events close it",
                       field="status")
    return target


def move(ctx: Any, session: Session, actor: audit.Actor, dispute: Dispute, to: str,
         note: str = "") -> Dispute:
    """Move a dispute to ``to`` as staff ask; a lost dispute takes its money back from the
    payment like a refund (at most what can still be given back), reopening what it paid,
    and raises a to-do for the recovery team. Whether a loss needs approval first is the
    caller's (:func:`loket.core.payments.approvals.move_dispute`).

    :raises ValidationFailed, Conflict: as :func:`check_move`, checked under the lock.
    """
    _lock(session, dispute)  # a loss locks the payment's plans after it (record_refund)
    return _apply(ctx, session, actor, dispute, check_move(dispute, to, note), note)


def _apply(ctx: Any, session: Session, actor: audit.Actor, dispute: Dispute,
           target: DisputeStatus, note: str) -> Dispute:
    """Move a locked dispute to ``target`` (checked by the caller), audited."""
    before = _audit_view(dispute)
    dispute.status = target.value
    dispute.history = [*dispute.history, _entry(ctx, actor, note.strip() or target.value,
                                                target)]
    if target in CLOSED:
        dispute.closed_at = ctx.now()
    if target is DisputeStatus.LOST:
        _take_back(ctx, session, actor, dispute)
    audit.record(session, actor, f"dispute.{target.value}", "dispute", dispute.id,
                 before=before, after=_audit_view(dispute), tenant_id=dispute.tenant_id)
    return dispute


def amount_to_take_back(session: Session, dispute: Dispute) -> int:
    """What losing ``dispute`` would take back from its payment now, in minor units: its
    amount, at most what the payment can still give back."""
    payment = session.get_one(Payment, dispute.payment_id)
    return min(dispute.amount, give_back_capacity(session, payment))


def _lock(session: Session, dispute: Dispute) -> None:
    """Re-read ``dispute`` under its payment's lock (the lock every change of the payment
    takes first), so two changes of one dispute at once happen one after the other, the
    second seeing the first's outcome."""
    lock_payment(session, dispute.payment_id)
    session.refresh(dispute, with_for_update=True)


def _take_back(ctx: Any, session: Session, actor: audit.Actor, dispute: Dispute) -> None:
    payment = lock_payment(session, dispute.payment_id)
    value = amount_to_take_back(session, dispute)
    if value > 0:
        before = snapshot(payment)
        record_refund(session, payment, value, f"dispute-{dispute.id}", "succeeded",
                      f"dispute lost: {dispute.reason}"[:200], actor.name, now=ctx.now())
        refresh_state(ctx, session, actor, payment, "payment.dispute_lost", before)
        check_invariants(session, payment)
    dispute.amount_taken_back = value
    raise_todo(session, dispute.tenant_id, "dispute.lost",
               f"Dispute on payment {payment.number} lost: "
               f"{Money(value, dispute.currency).format()} taken back",
               detail="The items it paid are open again; recover the amount from the payer.",
               entity_type="dispute", entity_id=str(dispute.id),
               dedupe_key=f"dispute-lost-{dispute.id}")


GATEWAY_OUTCOMES = {EventType.DISPUTE_UNDER_REVIEW: DisputeStatus.UNDER_REVIEW,
                    EventType.DISPUTE_WON: DisputeStatus.WON,
                    EventType.DISPUTE_LOST: DisputeStatus.LOST,
                    EventType.DISPUTE_WITHDRAWN: DisputeStatus.WITHDRAWN}
DISPUTE_EVENTS = frozenset({EventType.DISPUTE_OPENED, *GATEWAY_OUTCOMES})


def apply_gateway_event(ctx: Any, session: Session, actor: audit.Actor, payment: Payment,
                        event: GatewayEvent) -> bool:
    """Open, move or close the dispute a gateway reports on ``payment`` (one of
    :data:`DISPUTE_EVENTS`; the gateway's dispute id is ``event.dispute_reference``).

    The first event of a dispute opens it (for the disputed ``event.amount``, at most what
    can still be given back); a later one moves it on, through ``under_review`` when the
    gateway skips it. A repeated or out-of-date event changes nothing; on a dispute closed
    meanwhile, the gateway's outcome is applied as the module says. When there is nothing
    left to dispute, staff get a to-do instead.

    :returns: whether anything changed.
    """
    reference = event.dispute_reference or f"event:{event.event_id}"
    row = session.scalar(select(Dispute).where(Dispute.payment_id == payment.id,
                                               Dispute.gateway_reference == reference))
    changed = False
    if row is None:
        row = _open_from_gateway(ctx, session, actor, payment, event, reference)
        if row is None:
            return True
        changed = True
    target = GATEWAY_OUTCOMES.get(EventType(event.type))
    if target is None:
        return changed
    _lock(session, row)
    current = DisputeStatus(row.status)
    if current is target:
        return changed
    note = f"reported by the gateway ({event.raw_status or event.type})"
    if current in CLOSED:
        return _after_close(ctx, session, actor, row, target, note) or changed
    if target is not DisputeStatus.WITHDRAWN and current is DisputeStatus.OPEN:
        _apply(ctx, session, actor, row, DisputeStatus.UNDER_REVIEW, note)
    if row.status != target:
        _apply(ctx, session, actor, row, target, note)
    return True


def _after_close(ctx: Any, session: Session, actor: audit.Actor, row: Dispute,
                 target: DisputeStatus, note: str) -> bool:
    """The gateway's outcome of a dispute closed in loket already: a loss is applied (the
    gateway took the money); a win or a withdrawal of a dispute loket recorded lost raises
    a to-do (loket took the money back already); anything else changes nothing."""
    if target is DisputeStatus.LOST:
        _apply(ctx, session, actor, row, target, f"{note}, after it was closed {row.status}")
        return True
    if row.status != DisputeStatus.LOST or target not in CLOSED:
        return False
    return raise_todo(
        session, row.tenant_id, "dispute.outcome_changed",
        f"The gateway reports dispute {row.id} on payment {row.payment.number} {target}; "
        f"loket recorded it lost", detail="loket took the disputed money back from the "
        "payment and reopened the items it paid, but by the gateway's word the money is "
        "kept: correct the payment by hand.", entity_type="dispute", entity_id=str(row.id),
        dedupe_key=f"dispute-outcome:{row.id}:{target}") is not None


def _open_from_gateway(ctx: Any, session: Session, actor: audit.Actor, payment: Payment,
                       event: GatewayEvent, reference: str) -> Dispute | None:
    capacity = give_back_capacity(session, payment) if payment.status in \
        lifecycle.MONEY_TAKEN else 0
    wanted = event.amount.amount if event.amount is not None else capacity
    if capacity <= 0 or wanted <= 0:
        raise_todo(session, payment.tenant_id, "dispute.unmatched",
                   f"The gateway reports a dispute on payment {payment.number}, which has "
                   f"nothing left to dispute", detail=reference, entity_type="payment",
                   entity_id=payment.number, dedupe_key=f"dispute-unmatched:{reference}")
        return None
    suffix = " (gateway)"
    reason = str(event.details.get("reason") or "chargeback")
    return open_dispute(ctx, session, actor, payment,
                        Money(min(wanted, capacity), payment.currency).decimal_string(),
                        reason[:REASON_MAX - len(suffix)] + suffix,
                        f"opened by the gateway: {reference}",
                        gateway_reference=reference)


@attrs.frozen
class DisputeFilters:
    """The disputes list's search and filters: ``q`` matches the payment number, the
    consumer's name or account; ``status``; ``payment`` (number)."""

    q: str | None = None
    status: str | None = None
    payment: str | None = None


def list_disputes(session: Session, tenant_id: int, filters: DisputeFilters, page: int = 1,
                  limit: int = 20) -> Page:
    """Disputes matching the filters, newest first."""
    query = (select(Dispute).join(Payment, Payment.id == Dispute.payment_id)
             .outerjoin(Consumer, Consumer.id == Payment.consumer_id)
             .where(Dispute.tenant_id == tenant_id))
    if filters.q:
        q = filters.q.strip()
        query = query.where(or_(contains(Payment.number, q), contains(Consumer.name, q),
                                contains(Consumer.account_number, q)))
    if filters.status:
        query = query.where(Dispute.status == filters.status)
    if filters.payment:
        query = query.where(Payment.number == filters.payment)
    return paginate(session, query, (Dispute.created_at.desc(), Dispute.id.desc()), page,
                     limit)


def dispute(session: Session, tenant_id: int, dispute_id: int) -> Dispute:
    """A dispute of this tenant, or NotFound."""
    row = session.get(Dispute, dispute_id)
    if row is None or row.tenant_id != tenant_id:
        raise NotFound(f"no dispute {dispute_id}")
    return row
