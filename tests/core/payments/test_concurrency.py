"""Concurrency on PostgreSQL: the row locks make money move once."""

import threading

from sqlalchemy import func, select
from support.engine import ACTOR, connect_sandbox, seed, start

from loket.core.gateway_configs import configs
from loket.core.models import Allocation, AuditEntry, CreditNote, Receivable
from loket.core.payments.counter_payments import CounterPayment, record_counter_payment
from loket.core.webhooks import outcomes
from loket.errors import LoketError
from loket.types import GatewayEvent


def _run_together(count, work):
    barrier = threading.Barrier(count)
    errors = []

    def runner(i):
        barrier.wait()
        try:
            work(i)
        except Exception as exc:  # noqa: BLE001 - collected and asserted on
            errors.append(exc)

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_twenty_threads_applying_one_success_event_apply_it_once(pg_ctx):
    ctx = pg_ctx
    tenant_id = seed(ctx)
    connect_sandbox(ctx, tenant_id)
    payment = start(ctx, tenant_id, [("bill", "INV-2025-001234")])
    with ctx.transaction() as session:
        row = configs.get_row(session, tenant_id, "sandbox")
    event = GatewayEvent("evt-1", "payment.succeeded", "paid", payment_id=payment.number,
                         amount=None)

    def apply(_):
        with ctx.transaction() as session:
            outcomes.apply_event(ctx, session, row, event)

    assert _run_together(20, apply) == []
    with ctx.transaction() as session:
        allocations = session.scalars(select(Allocation).where(
            Allocation.payment_id == payment.id, Allocation.state == "posted")).all()
        audits = session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.entity_id == payment.number,
            AuditEntry.action == "payment.succeeded"))
        bill = session.scalar(select(Receivable).where(Receivable.reference == "INV-2025-001234"))
    assert [a.amount for a in allocations] == [14550]
    assert audits == 1
    assert (bill.paid, bill.status) == (14550, "paid")


def test_two_counter_payments_racing_for_one_bill_never_overpay_it(pg_ctx):
    ctx = pg_ctx
    tenant_id = seed(ctx)

    def pay(i):
        with ctx.transaction() as session:
            record_counter_payment(ctx, session, ACTOR, tenant_id, CounterPayment(
                account_number="CRN29391", payment_type="bill", method="card",
                paid_on="2025-01-15", amount_received="120.50", references=("BILL7890",)))

    errors = _run_together(2, pay)
    assert len(errors) == 1 and isinstance(errors[0], LoketError)
    assert "already paid" in errors[0].detail  # as if it had come second
    with ctx.transaction() as session:
        bill = session.scalar(select(Receivable).where(Receivable.reference == "BILL7890"))
        allocated = session.scalar(select(func.sum(Allocation.amount)).where(
            Allocation.receivable_id == bill.id, Allocation.state == "posted"))
        credit = session.scalar(select(func.coalesce(func.sum(CreditNote.amount), 0)))
    assert bill.paid == allocated == 12050 and bill.status == "paid"
    assert credit == 0  # the second cashier's money did not silently become credit
