"""What a batch of gateway events reads in bulk before applying them one by one: the payments
they name (locked, with their consumers) and, for the payments whose money an event takes,
their waiting holds, intended allocations and the receivables those name (locked). Four
statements for the batch instead of four an event (:mod:`loket.core.payments.batch_reads`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select, tuple_
from sqlalchemy.orm import Session, joinedload

from loket.core.models import Allocation, GatewayEventRow, Payment, PaymentHold
from loket.core.payments import batch_reads, holds
from loket.core.payments.posting import lock_receivables
from loket.core.states import AllocationState
from loket.types import EventType

TAKES_MONEY = frozenset({EventType.SUCCEEDED, EventType.SETTLED, EventType.REFUNDED})
"""Event types whose application may post a payment's intended allocations."""


def read_ahead(session: Session, rows: Sequence[GatewayEventRow]) -> None:
    """Read what applying ``rows`` will need, lock it, and install it for the steps of the
    rest of ``session``'s transaction to take (:func:`batch_reads.install`).

    Payments are locked in id order, then receivables in id order, as one event's steps
    lock them (its payment, then its receivables).
    """
    reads = batch_reads.BatchReads()
    numbers = {(r.tenant_id, r.gateway_configuration_id, r.payment_number) for r in rows
               if r.payment_number}
    references = {(r.gateway_configuration_id, r.gateway_reference) for r in rows
                  if r.gateway_reference}
    if not numbers and not references:
        return
    payments = session.scalars(select(Payment).where(or_(
        tuple_(Payment.tenant_id, Payment.gateway_configuration_id, Payment.number)
        .in_(sorted(numbers)),
        tuple_(Payment.gateway_configuration_id, Payment.gateway_reference)
        .in_(sorted(references))))
        .options(joinedload(Payment.consumer)).with_for_update(of=Payment)
        .order_by(Payment.id).execution_options(populate_existing=True)).unique().all()
    for payment in payments:
        config_id = payment.gateway_configuration_id or 0  # always set: found by it
        reads.payments[(config_id, "number", payment.number)] = payment
        if payment.gateway_reference:
            reads.payments[(config_id, "reference", payment.gateway_reference)] = payment
    named = (reads.named(r.gateway_configuration_id, r.payment_number, r.gateway_reference)
             for r in rows if r.event_type in TAKES_MONEY)
    ids = sorted({p.id for p in named if p is not None and p.succeeded_at is None
                  and not p.is_test})
    if ids:
        _read_application(session, reads, ids)
    batch_reads.install(session, reads)


def _read_application(session: Session, reads: batch_reads.BatchReads, ids: list[int]
                      ) -> None:
    """The waiting holds and intended allocations of the payments ``ids``, and their
    receivables, locked."""
    reads.holds.update(dict.fromkeys(ids))
    for hold in session.scalars(select(PaymentHold).where(
            PaymentHold.payment_id.in_(ids), PaymentHold.state == holds.WAITING)):
        reads.holds[hold.payment_id] = hold
    reads.intended.update({i: [] for i in ids})
    for allocation in session.scalars(select(Allocation).where(
            Allocation.payment_id.in_(ids), Allocation.state == AllocationState.INTENDED)
            .order_by(Allocation.id)):
        reads.intended[allocation.payment_id].append(allocation)
    receivable_ids = {a.receivable_id for allocations in reads.intended.values()
                      for a in allocations}
    if receivable_ids:
        reads.receivables.update(lock_receivables(session, receivable_ids))
