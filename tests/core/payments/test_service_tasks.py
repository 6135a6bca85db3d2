"""The service task monitor of a deferred destination: a worker dying after it claimed a
task, or a task that raises, never leaves the money taken and unapplied without a word."""

from __future__ import annotations

import copy
import threading

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from support.engine import (
    ADMIN,
    connect_sandbox,
    deliver,
    outstanding,
    payer,
    reload,
    seed,
    start,
)

from loket import hookimpl
from loket.core.models import Payment, Todo
from loket.core.payments import service_tasks
from loket.core.payments.posting import lock_payment
from loket.core.payments.refunds import refund_payment
from loket.core.settings import load_settings, save_settings


def _deferred(ctx, tenant_id, reference: str) -> Payment:
    """WU-10001 pays bill ``reference`` through the sandbox, ``pay-a-bill`` deferred."""
    with ctx.transaction() as session:
        document = dict(load_settings(session, tenant_id).document)
        routes = copy.deepcopy(document["destinations"])
        routes["pay-a-bill"]["processing"] = "deferred"
        save_settings(session, tenant_id, {**document, "destinations": routes})
    payment = start(ctx, tenant_id, [("bill", reference)])
    assert deliver(ctx, payer(ctx, payment, "pay")).status == 200
    payment = reload(ctx, payment)
    assert (payment.service_task, payment.application_state) == ("Pending", "pending")
    return payment


class _WorkerDies:
    """The worker is stopped (a deploy) while the bill processor applies the money."""

    LOKET_CONTRACT = "1"

    @hookimpl(tryfirst=True)
    def loket_destination_apply(self, processor, ledger, resolved, amount):
        """Stop the process for the bill processor."""
        if processor == "bill":
            raise SystemExit("worker stopped after the claim")


def test_a_worker_dying_after_the_claim_leaves_the_task_to_the_next_run(ctx, tenant_id):
    connect_sandbox(ctx, tenant_id)
    payment = _deferred(ctx, tenant_id, "INV-2025-001234")
    ctx.plugins.register(_WorkerDies(), name="worker-dies")
    try:
        with pytest.raises(SystemExit):
            service_tasks.monitor(ctx)
    finally:
        ctx.plugins.pm.unregister(name="worker-dies")
    assert outstanding(ctx, tenant_id, "INV-2025-001234") == 14550
    assert service_tasks.monitor(ctx) == {"Pending Reconciliation": 1}
    after = reload(ctx, payment)
    assert (after.service_task, after.application_state) == ("Pending Reconciliation",
                                                             "applied")
    assert outstanding(ctx, tenant_id, "INV-2025-001234") == 0


def test_a_task_a_dead_worker_left_in_progress_is_taken_up_again(ctx, tenant_id):
    connect_sandbox(ctx, tenant_id)
    payment = _deferred(ctx, tenant_id, "INV-2025-001234")
    with ctx.transaction() as session:  # claimed and committed, then the worker died
        session.get_one(Payment, payment.id).service_task = "In Progress"
    assert service_tasks.monitor(ctx) == {"Pending Reconciliation": 1}
    assert reload(ctx, payment).application_state == "applied"
    assert outstanding(ctx, tenant_id, "INV-2025-001234") == 0
    assert service_tasks.monitor(ctx) == {}


def test_a_task_that_raises_ends_in_error_with_a_todo_and_the_run_goes_on(ctx, tenant_id,
                                                                          monkeypatch):
    connect_sandbox(ctx, tenant_id)
    first = _deferred(ctx, tenant_id, "INV-2025-001234")
    second = _deferred(ctx, tenant_id, "INV-2025-001567")
    real = service_tasks.apply_intended

    def apply(ctx_, session, payment):
        if payment.id == first.id:
            raise RuntimeError("the ledger is unreachable")
        real(ctx_, session, payment)

    monkeypatch.setattr(service_tasks, "apply_intended", apply)
    assert service_tasks.monitor(ctx) == {"Error": 1, "Pending Reconciliation": 1}
    failed = reload(ctx, first)
    assert (failed.service_task, failed.application_state) == ("Error", "error")
    assert outstanding(ctx, tenant_id, "INV-2025-001234") == 14550
    assert reload(ctx, second).application_state == "applied"
    with ctx.transaction() as session:
        todos = session.scalars(select(Todo).where(Todo.kind == "payment.apply_failed")).all()
        assert [(t.entity_id, "the ledger is unreachable" in t.detail) for t in todos] == [
            (first.number, True)]


def test_a_task_the_database_failed_is_left_for_the_next_run(ctx, tenant_id, monkeypatch):
    connect_sandbox(ctx, tenant_id)
    payment = _deferred(ctx, tenant_id, "INV-2025-001234")
    real = service_tasks.apply_intended

    def deadlocked(ctx_, session, payment_):
        raise OperationalError("UPDATE receivables", {}, Exception("deadlock detected"))

    monkeypatch.setattr(service_tasks, "apply_intended", deadlocked)
    assert service_tasks.monitor(ctx) == {}
    assert reload(ctx, payment).service_task == "Pending"  # not Error: nothing was wrong
    monkeypatch.setattr(service_tasks, "apply_intended", real)
    assert service_tasks.monitor(ctx) == {"Pending Reconciliation": 1}
    with ctx.transaction() as session:
        assert not session.scalars(select(Todo).where(Todo.kind == "payment.apply_failed")
                                   ).all()


def test_a_task_another_monitor_is_applying_is_left_to_it_without_waiting(pg_ctx):
    ctx = pg_ctx
    tenant_id = seed(ctx)
    connect_sandbox(ctx, tenant_id)
    payment = _deferred(ctx, tenant_id, "INV-2025-001234")
    ran: list = []
    with Session(ctx.engine) as other:
        lock_payment(other, payment.id)  # another monitor is applying it
        running = threading.Thread(target=lambda: ran.append(service_tasks.monitor(ctx)))
        running.start()
        running.join(5)
        assert ran == [{}]
        other.rollback()
    running.join(10)
    assert service_tasks.monitor(ctx) == {"Pending Reconciliation": 1}


def _refund(ctx, payment: Payment, amount: str) -> None:
    with ctx.transaction() as session:
        refund_payment(ctx, session, ADMIN, session.get_one(Payment, payment.id), amount,
                       "requested_by_customer")


def _apply_failed(ctx) -> list:
    with ctx.transaction() as session:
        return session.scalars(select(Todo.entity_id).where(
            Todo.kind == "payment.apply_failed")).all()


def test_a_payment_refunded_in_full_before_its_task_ran_completes_without_posting(ctx,
                                                                                  tenant_id):
    connect_sandbox(ctx, tenant_id)
    payment = _deferred(ctx, tenant_id, "INV-2025-001234")
    _refund(ctx, payment, "145.50")
    assert service_tasks.monitor(ctx) == {"Complete": 1}
    after = reload(ctx, payment)
    assert (after.status, after.service_task, after.application_state) == (
        "refunded", "Complete", "applied")
    assert outstanding(ctx, tenant_id, "INV-2025-001234") == 14550  # the bill stays open
    assert _apply_failed(ctx) == []
    assert service_tasks.monitor(ctx) == {}


def test_a_payment_refunded_in_part_before_its_task_ran_applies_the_rest(ctx, tenant_id):
    connect_sandbox(ctx, tenant_id)
    payment = _deferred(ctx, tenant_id, "INV-2025-001234")
    _refund(ctx, payment, "45.50")
    assert service_tasks.monitor(ctx) == {"Pending Reconciliation": 1}
    after = reload(ctx, payment)
    assert (after.status, after.application_state) == ("partially_refunded", "applied")
    assert outstanding(ctx, tenant_id, "INV-2025-001234") == 4550  # 100.00 of it paid
    assert _apply_failed(ctx) == []
    _refund(ctx, payment, "100.00")  # what was applied can still be refunded
    assert outstanding(ctx, tenant_id, "INV-2025-001234") == 14550


def test_a_settled_task_another_transaction_holds_does_not_stop_the_others(pg_ctx):
    ctx = pg_ctx
    tenant_id = seed(ctx)
    connect_sandbox(ctx, tenant_id)
    first = _deferred(ctx, tenant_id, "INV-2025-001234")
    second = _deferred(ctx, tenant_id, "INV-2025-001567")
    assert service_tasks.monitor(ctx) == {"Pending Reconciliation": 2}
    with ctx.transaction() as session:  # both settle
        for paid in (first, second):
            session.get_one(Payment, paid.id).completed_at = ctx.now()
    ran: list = []
    with Session(ctx.engine) as other:
        lock_payment(other, first.id)  # a refund, say, is asking the gateway
        running = threading.Thread(target=lambda: ran.append(service_tasks.monitor(ctx)))
        running.start()
        running.join(5)
        done_meanwhile = list(ran)
        other.rollback()
    running.join(10)
    assert done_meanwhile == [{"Complete": 1}], "the run waited for one payment"
    assert reload(ctx, second).service_task == "Complete"
    assert service_tasks.monitor(ctx) == {"Complete": 1}
    assert reload(ctx, first).service_task == "Complete"


class _LedgerDown:
    """The bill processor's ledger is unreachable: every application fails."""

    LOKET_CONTRACT = "1"

    @hookimpl(tryfirst=True)
    def loket_destination_apply(self, processor, ledger, resolved, amount):
        """Fail the application."""
        raise RuntimeError("ledger down")


def test_a_retry_after_a_failed_task_takes_a_refund_off_once(ctx, tenant_id):
    from loket.core.backoffice import administration
    connect_sandbox(ctx, tenant_id)
    payment = _deferred(ctx, tenant_id, "INV-2025-001234")
    _refund(ctx, payment, "45.50")
    ctx.plugins.register(_LedgerDown(), name="ledger-down")
    try:
        assert service_tasks.monitor(ctx) == {"Error": 1}
    finally:
        ctx.plugins.pm.unregister(name="ledger-down")
    with ctx.transaction() as session:  # staff retry once the ledger is back
        administration.retry_application(ctx, session, ADMIN,
                                         session.get_one(Payment, payment.id))
    assert reload(ctx, payment).application_state == "applied"
    assert outstanding(ctx, tenant_id, "INV-2025-001234") == 4550  # 100.00 applied, once
