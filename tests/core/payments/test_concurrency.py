"""Concurrency on PostgreSQL: the row locks make money move once."""

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from support.concurrency import at_once
from support.engine import ACTOR, connect_sandbox, post, seed, start

from loket.core import audit
from loket.core.gateway_configs import configs
from loket.core.host import plan_changes, plan_payments, plans
from loket.core.models import (
    Allocation,
    Approval,
    AuditEntry,
    CreditNote,
    Dispute,
    Payment,
    PaymentPlan,
    Receivable,
    Refund,
)
from loket.core.payments import approvals, credit_notes, disputes, refunds
from loket.core.payments.approvals import ApprovalKind
from loket.core.payments.counter_payments import CounterPayment, record_counter_payment
from loket.core.payments.posting import lock_payment
from loket.core.webhooks import outcomes
from loket.errors import Conflict, LoketError, ValidationFailed
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


def test_a_mixed_payment_waiting_for_another_on_its_bill_pays_its_service_in_full(pg_ctx):
    """A mixed payment reads its items while another cashier's payment on the bill is not
    yet committed, then waits for it: it splits what the items owe once that one is in."""
    ctx = pg_ctx
    tenant_id = seed(ctx)
    mixed: list = []

    def pay_both():
        with ctx.transaction() as session:
            mixed.append(record_counter_payment(ctx, session, ACTOR, tenant_id, CounterPayment(
                account_number="WU-10001", payment_type="mixed", method="cash",
                paid_on="2025-01-15", amount_received="180.00",
                items=(("bill", "INV-2025-001234"), ("service", "SRV-RECON-0001")))).id)

    with Session(ctx.engine) as first:
        record_counter_payment(ctx, first, ACTOR, tenant_id, CounterPayment(
            account_number="WU-10001", payment_type="bill", method="cash",
            paid_on="2025-01-15", amount_received="100.00", references=("INV-2025-001234",)))
        racing = threading.Thread(target=pay_both)
        racing.start()
        racing.join(1.0)
        assert racing.is_alive()  # it read the items, then waits for the first payment
        first.commit()
    racing.join(10)
    with ctx.transaction() as session:
        owed = {r.reference: r.amount - r.paid for r in session.scalars(select(Receivable)
                .where(Receivable.reference.in_(("INV-2025-001234", "SRV-RECON-0001"))))}
        credit = session.scalars(select(CreditNote.amount).where(
            CreditNote.payment_id == mixed[0])).all()
    assert owed == {"INV-2025-001234": 0, "SRV-RECON-0001": 0}
    assert credit == [18000 - 4550 - 7500]


def _cash_payment(ctx, tenant_id: int) -> Payment:
    """WU-10001 pays INV-2025-001234 (145.50) in cash."""
    return post(ctx, tenant_id, amount_received="145.50", references=("INV-2025-001234",))


def test_two_approvers_deciding_one_refund_at_once_carry_it_out_once(pg_ctx):
    ctx = pg_ctx
    tenant_id = seed(ctx)
    paid = _cash_payment(ctx, tenant_id)
    with ctx.transaction() as session:
        payment = session.get_one(Payment, paid.id)
        asked = approvals.request_approval(
            ctx, session, audit.Actor("maker", "billing_manager"), ApprovalKind.REFUND,
            payment, {"amount": "50.00", "reason": "overcharged"})
    checkers = [audit.Actor("first", "tenant_admin"), audit.Actor("second", "cso_admin")]

    def approve(i):
        with ctx.transaction() as session:
            approvals.approve(ctx, session, checkers[i], approvals.approval(
                session, tenant_id, asked.id))

    errors = _run_together(2, approve)
    assert len(errors) == 1 and isinstance(errors[0], Conflict), errors
    with ctx.transaction() as session:
        refunds = session.scalars(select(Refund.amount).where(
            Refund.payment_id == paid.id)).all()
        decided = session.get_one(Approval, asked.id)
        refunded = session.get_one(Payment, paid.id).refunded
    assert refunds == [5000] and refunded == 5000
    assert decided.status == "approved"


_MAKER = audit.Actor("maker", "billing_manager")
_ASKED = {ApprovalKind.REFUND: {"amount": "60.00", "reason": "overcharged"},
          ApprovalKind.CREDIT_NOTE: {"amount": "60.00", "reason": "Billing Error"}}


def test_two_requests_at_once_that_together_give_back_too_much_wait_one(pg_ctx):
    ctx = pg_ctx
    tenant_id = seed(ctx)
    paid = _cash_payment(ctx, tenant_id)  # 145.50: room for one request of 100.00

    def ask(_):
        with ctx.transaction() as session:
            return approvals.request_approval(
                ctx, session, _MAKER, ApprovalKind.REFUND, session.get_one(Payment, paid.id),
                {"amount": "100.00", "reason": "overcharged"}).id

    results = at_once(ask)
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == 1 and isinstance(refused[0], ValidationFailed), results
    assert [e["field"] for e in refused[0].errors] == ["amount"]
    with ctx.transaction() as session:
        waiting = session.scalars(select(Approval.amount).where(
            Approval.payment_id == paid.id, Approval.status == "pending")).all()
    assert waiting == [10000]


@pytest.mark.parametrize("second", [ApprovalKind.REFUND, ApprovalKind.CREDIT_NOTE])
def test_two_approvals_approved_at_once_give_back_only_what_is_left(pg_ctx, second):
    ctx = pg_ctx
    tenant_id = seed(ctx)
    paid = _cash_payment(ctx, tenant_id)
    with ctx.transaction() as session:  # 60.00 + 60.00 fit the 145.50 when asked
        asked = [approvals.request_approval(ctx, session, _MAKER, kind,
                                            session.get_one(Payment, paid.id), _ASKED[kind]).id
                 for kind in (ApprovalKind.REFUND, second)]
    with ctx.transaction() as session:  # below the threshold, at once: 85.50 left
        refunds.refund_payment(ctx, session, ACTOR, session.get_one(Payment, paid.id),
                               "60.00", "")
    checkers = [audit.Actor("first", "tenant_admin"), audit.Actor("second", "cso_admin")]

    def approve(i):
        with ctx.transaction() as session:
            approvals.approve(ctx, session, checkers[i],
                              approvals.approval(session, tenant_id, asked[i]))

    errors = _run_together(2, approve)
    assert len(errors) == 1 and isinstance(errors[0], ValidationFailed), errors
    assert [e["field"] for e in errors[0].errors] == ["amount"]
    with ctx.transaction() as session:
        payment = session.get_one(Payment, paid.id)
        notes = sum(session.scalars(select(CreditNote.amount).where(
            CreditNote.payment_id == paid.id, CreditNote.automatic.is_(False))))
        decided = sorted(session.get_one(Approval, i).status for i in asked)
    assert payment.refunded + notes == 12000  # the 60.00 at once and one of the two
    assert decided == ["approved", "pending"]


def test_a_dispute_moved_two_ways_at_once_ends_in_one_of_them(pg_ctx):
    ctx = pg_ctx
    tenant_id = seed(ctx)
    paid = _cash_payment(ctx, tenant_id)
    with ctx.transaction() as session:
        opened = disputes.open_dispute(ctx, session, ACTOR, session.get_one(Payment, paid.id),
                                       "145.50", "chargeback")
        disputes.move(ctx, session, ACTOR, opened, "under_review")

    def move(i):
        with ctx.transaction() as session:
            disputes.move(ctx, session, ACTOR, disputes.dispute(session, tenant_id, opened.id),
                          ("won", "lost")[i])

    errors = _run_together(2, move)
    assert len(errors) == 1 and isinstance(errors[0], Conflict), errors
    with ctx.transaction() as session:
        row = session.get_one(Dispute, opened.id)
        refunded = session.get_one(Payment, paid.id).refunded
    moves = [entry.get("status") for entry in row.history if entry.get("status")]
    assert moves[-1] == row.status and row.status in ("won", "lost")
    assert "won" not in moves or "lost" not in moves
    assert refunded == (row.amount_taken_back if row.status == "lost" else 0)


def test_applying_a_credit_note_waits_for_its_payment_as_a_refund_holds_it(pg_ctx):
    """A refund works out what it may give back (the payment's credit notes count) under
    the payment's lock and calls the gateway before recording it: applying one of the
    payment's credit notes meanwhile must wait, or the money would go out twice."""
    ctx = pg_ctx
    tenant_id = seed(ctx)
    paid = _cash_payment(ctx, tenant_id)
    with ctx.transaction() as session:
        note = credit_notes.issue_credit_note(ctx, session, ACTOR,
                                              session.get_one(Payment, paid.id), "20.00",
                                              "Billing Error")
    applied = threading.Event()

    def apply():
        with ctx.transaction() as session:
            credit_notes.apply_credit_note(ctx, session, ACTOR, session.get_one(
                CreditNote, note.id), "bill", "INV-2025-001567")
        applied.set()

    with ctx.transaction() as session:
        lock_payment(session, paid.id)  # what a refund holds across its gateway call
        applying = threading.Thread(target=apply)
        applying.start()
        assert not applied.wait(1.0)
    applying.join(10)
    assert applied.is_set()


def test_a_refund_owing_a_plans_installment_again_keeps_the_job_from_completing_it(pg_ctx):
    """The compliance job completes a plan whose installments are all paid. A refund that
    makes one owed again locks the plan first: the job waits for it, then finds the
    installment owed, instead of completing the plan over a debt."""
    ctx = pg_ctx
    tenant_id = seed(ctx)
    today = dt.date.today()
    with ctx.transaction() as session:
        plan = plan_changes.create_plan(ctx, session, ACTOR, tenant_id, {
            "account_number": "WU-10001", "amount": "100.00", "installments": 1,
            "frequency": "monthly", "first_due_on": (today + dt.timedelta(days=10)).isoformat()})
        paid = plan_payments.record_plan_payment(ctx, session, ACTOR, tenant_id, plan.reference,
                                                 {"method": "cash", "amount_received": "100.00",
                                                  "paid_on": today.isoformat()})
    checked = threading.Event()

    def comply():
        plans.plan_compliance(ctx)
        checked.set()

    with ctx.transaction() as session:
        refunds.refund_payment(ctx, session, ACTOR, session.get_one(Payment, paid.id),
                               "10.00", "")
        job = threading.Thread(target=comply)
        job.start()
        assert not checked.wait(1.0)  # the plan is the refund's until it commits
    job.join(10)
    assert checked.is_set()
    with ctx.transaction() as session:
        assert session.get_one(PaymentPlan, plan.id).status == "active"
