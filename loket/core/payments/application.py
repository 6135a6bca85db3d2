"""Applying money a gateway took to the items its checkout chose (OPC apply): posted
through the destinations' processors, or held until a target that does not exist yet
arrives."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.db import optimistic, savepoint
from loket.core.models import Allocation, Payment
from loket.core.payments import batch_reads, holds
from loket.core.payments.invariants import check_invariants
from loket.core.payments.posting import (
    create_credit_note,
    post_allocations,
)
from loket.core.settings import load_settings
from loket.core.states import AllocationState, ApplicationState
from loket.core.todos import raise_todo

GATEWAY = audit.Actor("gateway", "gateway")
"""The actor of what a gateway's word causes (payments taken, applied, refunded)."""


_INTENDED = select(Allocation).where(Allocation.payment_id == bindparam("payment_id"),
                                     Allocation.state == AllocationState.INTENDED
                                     ).order_by(Allocation.id)


def apply_intended(ctx: Any, session: Session, payment: Payment) -> None:
    """Post the checkout's intended allocations through the processors (OPC apply). If that
    fails the money stays taken and staff get a to-do (OPC Error -> Error Resolved); in an
    optimistic session (:func:`loket.core.db.run_optimistically`) the failure is raised, for
    the caller to run the transaction again."""
    held = holds.waiting_hold(session, payment)
    if held is not None:
        holds.try_release(ctx, session, payment, held)
        return
    settings = load_settings(session, payment.tenant_id)
    reads = batch_reads.of(session)
    intended = (reads.intended.pop(payment.id) if reads is not None and payment.id in
                reads.intended else session.scalars(_INTENDED, {"payment_id": payment.id}).all())
    # Each item gets what the checkout meant for it (a part payment, or a share of a link
    # that another checkout pays too), never another item's share.
    groups = [(a.destination, [a.receivable_id], a.amount) for a in intended]
    try:
        with savepoint(session):
            leftover = post_allocations(ctx, session, payment, settings, groups)
            for allocation in intended:
                allocation.state = AllocationState.VOID
            if leftover:
                create_credit_note(session, settings, GATEWAY, payment, leftover, "Overpayment",
                                   "Automatic: items were paid elsewhere before this payment "
                                   "arrived", True, ctx.now())
            payment.application_state = ApplicationState.APPLIED
            check_invariants(session, payment)
    except Exception as exc:  # noqa: BLE001 - any processor failure becomes a to-do
        if optimistic(session):  # nothing to undo it with: the caller runs it again
            raise
        payment.application_state = ApplicationState.ERROR
        raise_todo(session, payment.tenant_id, "payment.apply_failed",
                   f"Payment {payment.number} was taken but could not be applied",
                   detail=f"{type(exc).__name__}: {exc}", entity_type="payment",
                   entity_id=payment.number)
