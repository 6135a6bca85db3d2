"""Deferred processing (a destination configured ``processing: deferred``): the payment's
OPC service task is created Pending when the money is taken, and the service task monitor
moves it In Progress -> Complete, Pending Reconciliation or Error (with a to-do).
``immediate`` (the default) applies the money as soon as it is taken.

A deferred payment may be refunded before the monitor applies it (as a held payment may be
while it waits): the refund gives back money that was never applied, so the monitor applies
only what was kept, the amount received less what was refunded, taken off the intended
allocations newest first (the order a refund takes back posted ones). A payment refunded
in full has nothing left to apply: its task is Complete without posting anything. A refund
the gateway has not confirmed yet is not deducted: the money is applied, and taken back
from the allocations if the gateway confirms the refund.
"""

from __future__ import annotations

import enum
import logging

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.models import Allocation, Payment
from loket.core.payments import unapplied
from loket.core.payments.application import apply_intended
from loket.core.payments.posting import lock_payment
from loket.core.payments.unapplied import refunded_in_full
from loket.core.settings import Settings, load_settings
from loket.core.states import ApplicationState
from loket.core.todos import raise_todo

log = logging.getLogger(__name__)
MONITOR = audit.Actor("service-task-monitor", "system")


class ServiceTask(enum.StrEnum):
    """The seed's service-task states of a deferred payment."""

    PENDING = "Pending"
    IN_PROGRESS = "In Progress"
    COMPLETE = "Complete"
    PENDING_RECONCILIATION = "Pending Reconciliation"
    ERROR = "Error"


_DESTINATIONS = select(Allocation.destination).where(
    Allocation.payment_id == bindparam("payment_id"))


def destinations_of(session: Session, payment: Payment) -> set[str]:
    """The destinations a payment was recorded under."""
    found = set(session.scalars(_DESTINATIONS, {"payment_id": payment.id}))
    if payment.destination and payment.destination != "mixed":
        found.add(payment.destination)
    return found


def is_deferred(settings: Settings, destinations: set[str]) -> bool:
    """Whether any of ``destinations`` is configured ``processing: deferred``."""
    return any((settings["destinations"].get(d) or {}).get("processing") == "deferred"
               for d in destinations)


def _reconciliation_required(settings: Settings, destinations: set[str]) -> bool:
    return any(((settings["destinations"].get(d) or {}).get("reconciliation") or {})
               .get("required", True) for d in destinations)


def defer_if_configured(session: Session, payment: Payment) -> bool:
    """Called when a payment's money is taken: for a deferred destination, create its
    service task Pending (the monitor applies the money later).

    :returns: whether the payment was deferred (the caller must not apply it now).
    """
    if payment.is_test:
        return False
    settings = load_settings(session, payment.tenant_id)
    if not is_deferred(settings, set(settings["destinations"])):
        return False  # no destination of the tenant defers: nothing to read
    if not is_deferred(settings, destinations_of(session, payment)):
        return False
    payment.service_task = ServiceTask.PENDING
    return True


def _move(session: Session, payment: Payment, state: ServiceTask) -> None:
    before = payment.service_task
    payment.service_task = state
    audit.record(session, MONITOR, "service_task.moved", "payment", payment.number,
                 before={"service_task": before}, after={"service_task": state},
                 tenant_id=payment.tenant_id)


_TO_PROCESS = select(Payment.id).where(or_(
    Payment.service_task == ServiceTask.PENDING,
    # Claimed by a worker that died before it applied the money (earlier versions committed
    # the claim on its own): taken up again.
    and_(Payment.service_task == ServiceTask.IN_PROGRESS,
         Payment.application_state == ApplicationState.PENDING))
).order_by(Payment.id).limit(bindparam("limit"))


def _claim(session: Session, payment_id: int) -> Payment | None:
    """Lock a payment whose task is to be processed; ``None`` when another monitor holds it
    (PostgreSQL) or its task no longer waits."""
    payment = session.scalars(select(Payment).where(Payment.id == payment_id).with_for_update(
        skip_locked=True).execution_options(populate_existing=True)).one_or_none()
    if payment is None:
        return None
    if payment.service_task == ServiceTask.PENDING:
        _move(session, payment, ServiceTask.IN_PROGRESS)
        return payment
    if payment.service_task == ServiceTask.IN_PROGRESS and \
            payment.application_state == ApplicationState.PENDING:
        return payment
    return None


def _process(ctx, session: Session, payment_id: int) -> ServiceTask | None:
    """Claim a task and apply its money in one transaction, so a worker dying half-way
    leaves it as it was; returns the state it ends in (``None``: not this monitor's)."""
    payment = _claim(session, payment_id)
    if payment is None:
        return None
    if refunded_in_full(payment):
        unapplied.nothing_to_apply(session, payment)
        _move(session, payment, ServiceTask.COMPLETE)
        return ServiceTask.COMPLETE
    unapplied.deduct_refunds(session, MONITOR, payment)
    apply_intended(ctx, session, payment)
    settings = load_settings(session, payment.tenant_id)
    if payment.application_state == ApplicationState.ERROR:
        state = ServiceTask.ERROR
    elif payment.application_state == "held":
        state = ServiceTask.IN_PROGRESS
    elif payment.completed_at is None and _reconciliation_required(
            settings, destinations_of(session, payment)):
        state = ServiceTask.PENDING_RECONCILIATION
    else:
        state = ServiceTask.COMPLETE
    if state != ServiceTask.IN_PROGRESS:
        _move(session, payment, state)
    return state


def _failed(ctx, payment_id: int, exc: Exception) -> ServiceTask | None:
    """Called when processing a task raised (its transaction rolled back): the task ends in
    Error, the payment's application in error, and staff get a to-do; returns ``Error``,
    or ``None`` when the task no longer waits."""
    with ctx.transaction() as session:
        payment = lock_payment(session, payment_id)
        if payment.service_task not in (ServiceTask.PENDING, ServiceTask.IN_PROGRESS) or \
                payment.application_state != ApplicationState.PENDING:
            return None
        payment.application_state = ApplicationState.ERROR
        _move(session, payment, ServiceTask.ERROR)
        raise_todo(session, payment.tenant_id, "payment.apply_failed",
                   f"Payment {payment.number} was taken but could not be applied",
                   detail=f"{type(exc).__name__}: {exc}", entity_type="payment",
                   entity_id=payment.number)
    return ServiceTask.ERROR


def _complete_settled(session: Session, payment_id: int) -> bool:
    """Complete a Pending Reconciliation task whose payment has settled; ``False`` when
    another transaction holds the payment (PostgreSQL: left for the next run rather than
    waited for) or the task moved meanwhile."""
    payment = session.scalars(select(Payment).where(Payment.id == payment_id).with_for_update(
        skip_locked=True).execution_options(populate_existing=True)).one_or_none()
    if payment is None or payment.service_task != ServiceTask.PENDING_RECONCILIATION:
        return False
    _move(session, payment, ServiceTask.COMPLETE)
    return True


def _run_pending(ctx, payment_id: int) -> ServiceTask | None:
    """Process one Pending task in its own transaction; a failure is logged and recorded
    (:func:`_failed`), never raised: the run goes on with the other payments."""
    try:
        with ctx.transaction() as session:
            return _process(ctx, session, payment_id)
    except OperationalError:  # a deadlock, a timeout, a lost connection: next run
        log.exception("service task of payment %s: the database failed; left for the "
                      "next run", payment_id)
        return None
    except Exception as exc:  # noqa: BLE001 - one payment's failure must not stop the run
        log.exception("service task of payment %s could not be processed", payment_id)
        try:
            return _failed(ctx, payment_id, exc)
        except Exception:  # noqa: BLE001 - left waiting: the next run tries again
            log.exception("service task of payment %s: the error was not recorded",
                          payment_id)
            return None


def monitor(ctx, limit: int = 200) -> dict[str, int]:
    """The service task monitor: process every Pending task (In Progress, then apply the
    money: Complete, Pending Reconciliation, or Error with a to-do) and complete Pending
    Reconciliation tasks whose payment has settled. Each task is claimed and applied in one
    transaction under its row lock, so two monitors never process it twice and a worker
    dying half-way leaves it Pending for the next run; one that raises ends in Error with
    a to-do (a database failure, such as a deadlock or a timeout, leaves it for the next
    run instead). Each payment has its own transaction and a payment another transaction
    holds is passed over: whatever happens to one, the run goes on with the others.

    :returns: how many tasks ended in each state.
    """
    with ctx.transaction() as session:
        pending = list(session.scalars(_TO_PROCESS, {"limit": limit}))
        waiting = list(session.scalars(select(Payment.id).where(
            Payment.service_task == ServiceTask.PENDING_RECONCILIATION,
            Payment.completed_at.is_not(None)).order_by(Payment.id).limit(limit)))
    counts: dict[str, int] = {}
    for payment_id in pending:
        state = _run_pending(ctx, payment_id)
        if state is not None:
            counts[state] = counts.get(state, 0) + 1
    for payment_id in waiting:
        try:
            with ctx.transaction() as session:
                completed = _complete_settled(session, payment_id)
        except Exception:  # noqa: BLE001 - one payment's failure must not stop the run
            log.exception("service task of payment %s could not be completed; left for the "
                          "next run", payment_id)
            continue
        if completed:
            counts[ServiceTask.COMPLETE] = counts.get(ServiceTask.COMPLETE, 0) + 1
    return counts
