"""Deferred processing (a destination configured ``processing: deferred``): the payment's
OPC service task is created Pending when the money is taken, and the service task monitor
moves it In Progress -> Complete, Pending Reconciliation or Error (with a to-do).
``immediate`` (the default) applies the money as soon as it is taken.
"""

from __future__ import annotations

import enum
import logging

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.models import Allocation, Payment
from loket.core.payments.application import apply_intended
from loket.core.payments.posting import lock_payment
from loket.core.settings import Settings, load_settings

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


def monitor(ctx, limit: int = 200) -> dict[str, int]:
    """The service task monitor: process every Pending task (In Progress, then apply the
    money: Complete, Pending Reconciliation, or Error with a to-do) and complete Pending
    Reconciliation tasks whose payment has settled. Idempotent: a task is claimed by moving
    it In Progress under a row lock, so two monitors never process it twice.

    :returns: how many tasks ended in each state.
    """
    with ctx.transaction() as session:
        pending = list(session.scalars(select(Payment.id).where(
            Payment.service_task == ServiceTask.PENDING).order_by(Payment.id).limit(limit)))
        waiting = list(session.scalars(select(Payment.id).where(
            Payment.service_task == ServiceTask.PENDING_RECONCILIATION,
            Payment.completed_at.is_not(None)).order_by(Payment.id).limit(limit)))
    counts: dict[str, int] = {}
    for payment_id in pending:
        with ctx.transaction() as session:
            payment = lock_payment(session, payment_id)
            if payment.service_task != ServiceTask.PENDING:
                continue
            _move(session, payment, ServiceTask.IN_PROGRESS)
        with ctx.transaction() as session:
            payment = lock_payment(session, payment_id)
            if payment.service_task != ServiceTask.IN_PROGRESS:
                continue
            apply_intended(ctx, session, payment)
            settings = load_settings(session, payment.tenant_id)
            if payment.application_state == "error":
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
            counts[state] = counts.get(state, 0) + 1
    for payment_id in waiting:
        with ctx.transaction() as session:
            payment = lock_payment(session, payment_id)
            if payment.service_task == ServiceTask.PENDING_RECONCILIATION:
                _move(session, payment, ServiceTask.COMPLETE)
                counts[ServiceTask.COMPLETE] = counts.get(ServiceTask.COMPLETE, 0) + 1
    return counts
