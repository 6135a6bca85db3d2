"""Approval controls (maker-checker) on money going back out and on payment plans.

A tenant's ``approvals`` settings name thresholds: a refund or a credit note above its
threshold, or a payment plan change (create, reschedule, cancel) concerning more than
``plan_change_above``, is not carried out but kept as a pending approval; a second person with an
approving role (``approver_roles``, default tenant_admin and cso_admin) approves it — and
then it is carried out, in the approver's transaction — or rejects it, with a note. A loss
staff declare on a dispute takes money back like a refund, so one above ``refund_above``
waits the same way (``dispute_loss``). A request is checked as the operation itself would
check it before it waits: nothing waits that could never be carried out. What the requests
already waiting on a payment would give back counts too: a refund or credit note request
that, carried out after them, would give back more than the payment can is refused (naming
``amount``). A dispute's loss is never refused for them (the payer's bank decided it), but
once waiting it counts against later requests. A refund or credit note below the threshold
is not held back by requests waiting; one of those that no longer fits when approved is
refused then (naming ``amount``), moves nothing and stays pending, for the checker to
reject.

The maker can never decide their own request: the maker is the API key that asked (its id
is kept with the request), or any key bearing the maker's name when that name is a person's,
not a role's (an unnamed key is named after its role). Requests kept before key ids were
are compared by name. Everything is audited.
"""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from loket.core import audit, idempotency
from loket.core.backoffice.paging import Page, paginate
from loket.core.db import money_sum
from loket.core.host import plan_changes
from loket.core.models import Approval, Dispute, Payment, PaymentPlan
from loket.core.payments import credit_notes, disputes, refunds
from loket.core.payments.invariants import give_back_capacity
from loket.core.payments.posting import lock_payment
from loket.core.settings import load_settings
from loket.errors import Conflict, Forbidden, NotFound, ValidationFailed
from loket.money import Money

DEFAULT_APPROVERS = ("tenant_admin", "cso_admin")
NOTE_MAX = 2000  # characters of a decision note, and of a plan change's reason or notes


class ApprovalKind(enum.StrEnum):
    """What waits for approval."""

    REFUND = "refund"
    CREDIT_NOTE = "credit_note"
    PLAN_CHANGE = "plan_change"
    DISPUTE_LOSS = "dispute_loss"


class ApprovalStatus(enum.StrEnum):
    """Where an approval stands."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


_THRESHOLD = {ApprovalKind.REFUND: "refund_above",
              ApprovalKind.CREDIT_NOTE: "credit_note_above",
              ApprovalKind.PLAN_CHANGE: "plan_change_above",
              ApprovalKind.DISPUTE_LOSS: "refund_above"}


def required(session: Session, tenant_id: int, kind: ApprovalKind, amount: str | int,
             currency: str) -> bool:
    """Whether an adjustment of ``amount`` (decimal string, or minor units as an ``int``)
    must wait for approval: the tenant set a threshold for ``kind`` and the amount is above
    it."""
    threshold = load_settings(session, tenant_id).money(f"approvals.{_THRESHOLD[kind]}")
    if threshold is None:
        return False
    value = amount if isinstance(amount, int) else Money.parse(amount, currency).amount
    return value > threshold


def change_plan(ctx: Any, session: Session, actor: audit.Actor, tenant_id: int,
                request: dict[str, Any],
                idempotency_key: str | None = None) -> PaymentPlan | Approval:
    """Carry out a payment plan change (:mod:`loket.core.host.plan_changes`), or, when the
    amount it concerns is above the tenant's ``plan_change_above``, keep it as a pending
    approval (the request is checked first either way: nothing invalid waits).

    :param request: the change: ``action`` (create, reschedule, cancel) and its fields.
    :param idempotency_key: a repeat with the same key (a form submitted twice) returns
        what the first did, the plan as it now stands or the same approval, instead of
        making a second plan for the same debt.
    :returns: the plan (carried out) or the pending :class:`Approval`.
    :raises ValidationFailed: a ``reason`` or ``notes`` longer than :data:`NOTE_MAX`
        characters, or what the change itself refuses.
    """
    scope = f"plan-change:{request.get('action')}:{request.get('plan', '')}"[:100]
    key_row, prior = idempotency.claim(session, tenant_id, scope, idempotency_key, request)
    if prior is not None:
        if "approval_id" in prior:
            return session.get_one(Approval, prior["approval_id"])
        return session.get_one(PaymentPlan, prior["plan_id"])
    for field in ("reason", "notes"):
        _check_note(request.get(field), field)
    amount = plan_changes.amount_concerned(session, tenant_id, request, ctx.now())
    currency = load_settings(session, tenant_id).currency
    if not required(session, tenant_id, ApprovalKind.PLAN_CHANGE, amount, currency):
        plan = plan_changes.carry_out(ctx, session, actor, tenant_id, request)
        if key_row is not None:
            idempotency.remember(session, key_row, {"plan_id": plan.id})
        return plan
    row = Approval(tenant_id=tenant_id, kind=ApprovalKind.PLAN_CHANGE.value, payment_id=None,
                   amount=amount, currency=currency, request=request,
                   status=ApprovalStatus.PENDING.value, maker=actor.name,
                   maker_role=actor.role, maker_key_id=actor.key_id, created_at=ctx.now())
    session.add(row)
    session.flush()
    audit.record(session, actor, "approval.requested", "approval", row.id,
                 after={"kind": row.kind, **request}, tenant_id=tenant_id)
    if key_row is not None:
        idempotency.remember(session, key_row, {"approval_id": row.id})
    return row


def _check_note(text: Any, field: str) -> None:
    if isinstance(text, str) and len(text) > NOTE_MAX:
        raise ValidationFailed(f"{field} must be at most {NOTE_MAX} characters", field=field)


def request_approval(ctx: Any, session: Session, actor: audit.Actor, kind: ApprovalKind,
                     payment: Payment, request: dict[str, Any],
                     idempotency_key: str | None = None) -> Approval:
    """Keep ``request`` (the operation's fields: ``amount`` and its reason/remarks; for a
    dispute loss the ``dispute`` id and its ``note``) as a pending approval made by
    ``actor``; audited. Called instead of the operation when :func:`required` says so.
    The request is checked first as the operation checks it (:func:`check_request`).

    :param idempotency_key: a repeat with the same key (a form submitted twice, a request
        retried after its answer was lost) returns the approval the first made: approving
        two copies would carry the operation out twice.
    :raises ValidationFailed, Conflict: what the operation itself would refuse; a refund or
        credit note ``amount`` above what the requests already waiting on the payment leave.
    """
    key_row, prior = idempotency.claim(session, payment.tenant_id,
                                       f"approval:{kind.value}:{payment.id}", idempotency_key,
                                       request)
    if prior is not None:
        return session.get_one(Approval, prior["approval_id"])
    # Under the payment's lock: of two requests at once, the second counts the first.
    payment = lock_payment(session, payment.id)
    check_request(session, kind, payment, request)
    if kind is not ApprovalKind.DISPUTE_LOSS:
        _check_waiting(session, payment, Money.parse(request["amount"], payment.currency))
    row = Approval(tenant_id=payment.tenant_id, kind=kind.value, payment_id=payment.id,
                   amount=Money.parse(request["amount"], payment.currency).amount,
                   currency=payment.currency, request=request,
                   status=ApprovalStatus.PENDING.value, maker=actor.name,
                   maker_role=actor.role, maker_key_id=actor.key_id, created_at=ctx.now())
    session.add(row)
    session.flush()
    audit.record(session, actor, "approval.requested", "approval", row.id,
                 after={"kind": kind.value, "payment": payment.number, **request},
                 tenant_id=payment.tenant_id)
    if key_row is not None:
        idempotency.remember(session, key_row, {"approval_id": row.id})
    return row


_WAITING = select(money_sum(Approval.amount)).where(
    Approval.payment_id == bindparam("payment_id"),
    Approval.status == ApprovalStatus.PENDING.value,
    Approval.kind.in_([ApprovalKind.REFUND.value, ApprovalKind.CREDIT_NOTE.value,
                       ApprovalKind.DISPUTE_LOSS.value]))


def _check_waiting(session: Session, payment: Payment, value: Money) -> None:
    """Refuse a request the ones already waiting on ``payment`` leave no room for: all of
    them carried out would give back more than the payment can."""
    waiting = session.scalar(_WAITING, {"payment_id": payment.id}) or 0
    left = max(give_back_capacity(session, payment) - waiting, 0)
    if waiting and value.amount > left:
        raise ValidationFailed(
            f"requests waiting for approval would already give back "
            f"{Money(waiting, payment.currency).format()} of payment {payment.number}; at most "
            f"{Money(left, payment.currency).format()} is left to ask for", field="amount")


def check_request(session: Session, kind: ApprovalKind, payment: Payment,
                  request: dict[str, Any]) -> None:
    """Check a refund, credit note or dispute loss request as the operation itself checks it
    (:func:`loket.core.payments.refunds.check_refund`,
    :func:`loket.core.payments.credit_notes.check_credit_note`,
    :func:`loket.core.payments.disputes.check_move`), without carrying it out.

    :raises ValidationFailed, Conflict: what the operation would refuse.
    """
    if kind is ApprovalKind.REFUND:
        refunds.check_refund(session, payment, request["amount"], request.get("reason") or "")
    elif kind is ApprovalKind.CREDIT_NOTE:
        credit_notes.check_credit_note(session, payment, request["amount"],
                                       request.get("reason") or "",
                                       request.get("remarks") or "")
    elif kind is ApprovalKind.DISPUTE_LOSS:
        disputes.check_move(disputes.dispute(session, payment.tenant_id, request["dispute"]),
                            disputes.DisputeStatus.LOST, request.get("note") or "")


def move_dispute(ctx: Any, session: Session, actor: audit.Actor, dispute: Dispute, to: str,
                 note: str = "", idempotency_key: str | None = None) -> Dispute | Approval:
    """Move a dispute as staff ask (:func:`loket.core.payments.disputes.move`), or, for a
    loss that would take back more than the tenant's ``refund_above``, keep it as a pending
    ``dispute_loss`` approval: approved, the dispute is lost with the approver as actor.

    :param idempotency_key: a repeat with it returns the same approval.
    :returns: the dispute (moved) or the pending :class:`Approval`.
    :raises ValidationFailed, Conflict: as :func:`~loket.core.payments.disputes.check_move`.
    """
    if disputes.check_move(dispute, to, note) is disputes.DisputeStatus.LOST:
        payment = session.get_one(Payment, dispute.payment_id)
        amount = disputes.amount_to_take_back(session, dispute)
        if required(session, dispute.tenant_id, ApprovalKind.DISPUTE_LOSS, amount,
                    dispute.currency):
            return request_approval(ctx, session, actor, ApprovalKind.DISPUTE_LOSS, payment, {
                "amount": Money(amount, dispute.currency).decimal_string(),
                "dispute": dispute.id, "note": note}, idempotency_key)
    return disputes.move(ctx, session, actor, dispute, to, note)


def made_by(actor: audit.Actor, row: Approval) -> bool:
    """Whether ``actor`` made the request ``row`` (see the module): the same key, or the same
    person's name; by name alone when either key is unknown."""
    if row.maker_key_id is None or actor.key_id is None:
        return actor.name == row.maker
    return actor.key_id == row.maker_key_id or (
        actor.name == row.maker and actor.name != actor.role)


def _check_checker(session: Session, actor: audit.Actor, row: Approval) -> None:
    # Re-read under a row lock: of two checkers deciding at once, the second waits for the
    # first's commit and then finds the request decided (it is carried out once).
    session.refresh(row, with_for_update=True)
    if ApprovalStatus(row.status) is not ApprovalStatus.PENDING:
        raise Conflict(f"approval {row.id} is already {row.status}", field="status")
    approvers = load_settings(session, row.tenant_id).document.get("approvals", {}).get(
        "approver_roles", DEFAULT_APPROVERS)
    if actor.role not in approvers:
        raise Forbidden(f"only {', '.join(approvers)} may decide approvals")
    if made_by(actor, row):
        raise Forbidden("the maker of a request cannot decide it; a second person must")


def approve(ctx: Any, session: Session, actor: audit.Actor, row: Approval,
            note: str = "") -> Approval:
    """Approve a pending request and carry it out now (the refund, the credit note, the plan
    change or the dispute's loss, with the approver as its actor); the outcome is kept in
    ``result``.

    :raises ValidationFailed: a note longer than :data:`NOTE_MAX` characters.
    :raises Forbidden: the approver made the request or lacks an approving role.
    :raises Conflict: already decided. Errors of the operation itself (e.g. nothing left to
        refund) propagate and leave the request pending.
    """
    _check_note(note, "note")
    _check_checker(session, actor, row)
    row.result = _carry_out(ctx, session, actor, row)
    return _decide(ctx, session, actor, row, ApprovalStatus.APPROVED, note)


def _carry_out(ctx: Any, session: Session, actor: audit.Actor, row: Approval) -> dict:
    """Carry out an approved request as the approver; returns its outcome."""
    payment = row.payment
    request = row.request
    kind = ApprovalKind(row.kind)
    if payment is None:  # a payment plan change
        plan = plan_changes.carry_out(ctx, session, actor, row.tenant_id, request)
        return {"plan": plan.reference, "status": plan.status}
    if kind is ApprovalKind.REFUND:
        # Keyed by the approval: approving again after a lost gateway answer asks the
        # gateway for the same refund.
        refunds.refund_payment(ctx, session, actor, payment, request["amount"],
                               request.get("reason", ""), idempotency_key=f"approval-{row.id}")
        return {"payment": payment.number, "refunded": payment.refunded}
    if kind is ApprovalKind.DISPUTE_LOSS:
        lost = disputes.move(ctx, session, actor,
                             disputes.dispute(session, row.tenant_id, request["dispute"]),
                             disputes.DisputeStatus.LOST, request.get("note") or "")
        return {"payment": payment.number, "dispute": lost.id,
                "amount_taken_back": lost.amount_taken_back}
    note_row = credit_notes.issue_credit_note(ctx, session, actor, payment,
                                              request["amount"], request["reason"],
                                              request.get("remarks", ""))
    return {"payment": payment.number, "credit_note": note_row.number}


def reject(ctx: Any, session: Session, actor: audit.Actor, row: Approval,
           note: str) -> Approval:
    """Reject a pending request with a note; nothing is carried out.

    :raises ValidationFailed: a note longer than :data:`NOTE_MAX` characters.
    :raises Forbidden: the rejecter made the request or lacks an approving role.
    :raises Conflict: already decided.
    """
    _check_note(note, "note")
    _check_checker(session, actor, row)
    return _decide(ctx, session, actor, row, ApprovalStatus.REJECTED, note)


def _decide(ctx: Any, session: Session, actor: audit.Actor, row: Approval,
            status: ApprovalStatus, note: str) -> Approval:
    row.status = status.value
    row.checker = actor.name
    row.decision_note = note
    row.decided_at = ctx.now()
    audit.record(session, actor, f"approval.{status.value}", "approval", row.id,
                 before={"status": ApprovalStatus.PENDING.value},
                 after={"status": status.value, "note": note, "result": row.result},
                 tenant_id=row.tenant_id)
    return row


def list_approvals(session: Session, tenant_id: int, status: str | None, page: int = 1,
                   limit: int = 20) -> Page:
    """Approvals (default the pending ones first asked, oldest first)."""
    query = select(Approval).where(Approval.tenant_id == tenant_id)
    if status:
        query = query.where(Approval.status == status)
    return paginate(session, query, (Approval.created_at, Approval.id), page, limit)


def approval(session: Session, tenant_id: int, approval_id: int) -> Approval:
    """An approval of this tenant, or NotFound."""
    row = session.get(Approval, approval_id)
    if row is None or row.tenant_id != tenant_id:
        raise NotFound(f"no approval {approval_id}")
    return row
