"""Approval controls (maker-checker) on money going back out and on payment plans.

A tenant's ``approvals`` settings name thresholds: a refund or a credit note above its
threshold, or a payment plan change (create, reschedule, cancel) concerning more than
``plan_change_above``, is not carried out but kept as a pending approval; a second person with an
approving role (``approver_roles``, default tenant_admin and cso_admin) approves it — and
then it is carried out, in the approver's transaction — or rejects it, with a note. The
maker can never decide their own request. Everything is audited.
"""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core import audit, idempotency
from loket.core.backoffice.paging import Page, paginate
from loket.core.host import plan_changes
from loket.core.models import Approval, Payment, PaymentPlan
from loket.core.payments import credit_notes, refunds
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


class ApprovalStatus(enum.StrEnum):
    """Where an approval stands."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


_THRESHOLD = {ApprovalKind.REFUND: "refund_above",
              ApprovalKind.CREDIT_NOTE: "credit_note_above",
              ApprovalKind.PLAN_CHANGE: "plan_change_above"}


def required(session: Session, tenant_id: int, kind: ApprovalKind, amount: str | int,
             currency: str) -> bool:
    """Whether an adjustment of ``amount`` (decimal string, or minor units as an ``int``)
    must wait for approval: the tenant set a threshold for ``kind`` and the amount is above
    it."""
    limits = load_settings(session, tenant_id).document.get("approvals", {})
    threshold = limits.get(_THRESHOLD[kind])
    if threshold is None:
        return False
    value = amount if isinstance(amount, int) else Money.parse(amount, currency).amount
    return value > Money.parse(threshold, currency).amount


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
                   maker_role=actor.role, created_at=ctx.now())
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
    """Keep ``request`` (the operation's fields: ``amount`` and its reason/remarks) as a
    pending approval made by ``actor``; audited. Called instead of the operation when
    :func:`required` says so.

    :param idempotency_key: a repeat with the same key (a form submitted twice) returns the
        approval the first made: approving two copies would carry the operation out twice.
    """
    key_row, prior = idempotency.claim(session, payment.tenant_id,
                                       f"approval:{kind.value}:{payment.id}", idempotency_key,
                                       request)
    if prior is not None:
        return session.get_one(Approval, prior["approval_id"])
    row = Approval(tenant_id=payment.tenant_id, kind=kind.value, payment_id=payment.id,
                   amount=Money.parse(request["amount"], payment.currency).amount,
                   currency=payment.currency, request=request,
                   status=ApprovalStatus.PENDING.value, maker=actor.name,
                   maker_role=actor.role, created_at=ctx.now())
    session.add(row)
    session.flush()
    audit.record(session, actor, "approval.requested", "approval", row.id,
                 after={"kind": kind.value, "payment": payment.number, **request},
                 tenant_id=payment.tenant_id)
    if key_row is not None:
        idempotency.remember(session, key_row, {"approval_id": row.id})
    return row


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
    if actor.name == row.maker:
        raise Forbidden("the maker of a request cannot decide it; a second person must")


def approve(ctx: Any, session: Session, actor: audit.Actor, row: Approval,
            note: str = "") -> Approval:
    """Approve a pending request and carry it out now (the refund or the credit note, with
    the approver as its actor); the outcome is kept in ``result``.

    :raises ValidationFailed: a note longer than :data:`NOTE_MAX` characters.
    :raises Forbidden: the approver made the request or lacks an approving role.
    :raises Conflict: already decided. Errors of the operation itself (e.g. nothing left to
        refund) propagate and leave the request pending.
    """
    _check_note(note, "note")
    _check_checker(session, actor, row)
    payment = row.payment
    request = row.request
    if payment is None:  # a payment plan change
        plan = plan_changes.carry_out(ctx, session, actor, row.tenant_id, request)
        row.result = {"plan": plan.reference, "status": plan.status}
    elif ApprovalKind(row.kind) is ApprovalKind.REFUND:
        # Keyed by the approval: approving again after a lost gateway answer asks the
        # gateway for the same refund.
        refunds.refund_payment(ctx, session, actor, payment, request["amount"],
                               request.get("reason", ""), idempotency_key=f"approval-{row.id}")
        row.result = {"payment": payment.number, "refunded": payment.refunded}
    else:
        note_row = credit_notes.issue_credit_note(ctx, session, actor, payment,
                                                  request["amount"], request["reason"],
                                                  request.get("remarks", ""))
        row.result = {"payment": payment.number, "credit_note": note_row.number}
    return _decide(ctx, session, actor, row, ApprovalStatus.APPROVED, note)


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
