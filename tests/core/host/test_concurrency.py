"""On PostgreSQL, a payment plan changed while a payment of it is being recorded: the
change locks the plan and its installments from its check on, so the payment waits and
then sees the new schedule (or the cancelled plan); no money is lost between the two. A
refund of a plan's payment and the plan's cancellation lock in one order: one waits for the
other. And two plans made at once with one reference: the second is refused, naming the
field."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time

import pytest
from sqlalchemy import event, func, select, text, update
from support.engine import ACTOR, seed

from loket.core.host import plan_changes, plan_payments
from loket.core.models import CreditNote, Payment, PaymentPlan, Receivable
from loket.core.payments import approvals, lifecycle, refunds
from loket.core.payments.counter_payments import CounterPayment, record_counter_payment
from loket.core.payments.invariants import check_invariants
from loket.core.payments.posting import lock_payment
from loket.errors import Conflict, LoketError

pytestmark = pytest.mark.postgres
BILLS = [{"kind": "bill", "reference": "INV-2025-001234"},
         {"kind": "bill", "reference": "INV-2025-001567"}]  # 145.50 + 152.25
WAITING = text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
               "AND wait_event_type = 'Lock'")


def _in_days(ctx, days: int) -> str:
    return (ctx.now().date() + dt.timedelta(days=days)).isoformat()


def _plan(ctx, tenant_id: int, **terms) -> str:
    with ctx.transaction() as session:
        return plan_changes.create_plan(ctx, session, ACTOR, tenant_id, {
            "action": "create", "account_number": "WU-10001", "installments": 3,
            "first_due_on": _in_days(ctx, 5), **terms}).reference


def _in_a_thread(ctx, work, raised: list) -> threading.Thread:
    """A thread (not started) that runs ``work(session)`` in a transaction of its own and
    appends to ``raised`` what it raised."""
    def run():
        try:
            with ctx.transaction() as session:
                work(session)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            raised.append(exc)

    return threading.Thread(target=run)


def _change_while_paying(ctx, tenant_id: int, request: dict, pay) -> list:
    """Carry ``request`` out (:func:`approvals.change_plan`) with ``pay`` made in another
    thread at the worst moment: once the change has read the plan, just before it writes.
    ``pay`` finishes when the locks let it; returns what it raised."""
    raised: list = []
    thread = _in_a_thread(ctx, pay, raised)

    def before_write(_session, _context, _instances):
        if thread.ident is not None:
            return
        thread.start()
        _wait_until_blocked(ctx, thread)

    with ctx.transaction() as session:
        event.listen(session, "before_flush", before_write)
        approvals.change_plan(ctx, session, ACTOR, tenant_id, request)
    thread.join(30)
    assert thread.ident is not None and not thread.is_alive()
    return raised


def _wait_until_blocked(ctx, thread: threading.Thread) -> None:
    """Until ``thread`` waits for a lock (or ends: it did not have to wait)."""
    deadline = time.monotonic() + 10
    with ctx.engine.connect() as watcher:
        while thread.is_alive() and not watcher.execute(WAITING).scalar() and \
                time.monotonic() < deadline:
            time.sleep(0.02)


def _money_taken(session) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(Payment.amount), 0)).where(
        Payment.status.in_(tuple(lifecycle.MONEY_TAKEN)))))


def test_a_plan_payment_made_while_the_plan_is_rescheduled_is_in_the_new_schedule(pg_ctx):
    ctx = pg_ctx
    tenant_id = seed(ctx)
    reference = _plan(ctx, tenant_id, amount="90.00")  # three of 30.00

    def pay(session):
        plan_payments.record_plan_payment(ctx, session, ACTOR, tenant_id, reference, {
            "method": "cash", "amount_received": "30.00", "paid_on": _in_days(ctx, -1)})

    raised = _change_while_paying(ctx, tenant_id, {
        "action": "reschedule", "plan": reference, "installments": 2,
        "frequency": "monthly", "first_due_on": _in_days(ctx, 30)}, pay)
    assert raised == []
    with ctx.transaction() as session:
        plan = plan_changes.plan_by_reference(session, tenant_id, reference)
        rows = plan_changes.installments(session, plan)
        owing = sum(r.amount - r.paid for r in plan_changes.unpaid(rows))
        paid = sum(r.paid for r in rows)
        assert _money_taken(session) == 3000
    assert (owing, paid, owing + paid) == (6000, 3000, 9000), [
        (r.reference, r.amount, r.paid, r.status) for r in rows]
    assert [(r.amount, r.paid) for r in plan_changes.unpaid(rows)] == [(4500, 3000),
                                                                       (4500, 0)]


def test_an_installment_paid_at_the_counter_while_the_plan_is_cancelled_is_not_lost(pg_ctx):
    ctx = pg_ctx
    tenant_id = seed(ctx)
    reference = _plan(ctx, tenant_id, items=BILLS)

    def pay(session):  # a plain counter payment of an installment: it locks that one only
        record_counter_payment(ctx, session, ACTOR, tenant_id, CounterPayment(
            account_number="WU-10001", payment_type="installment", method="cash",
            amount_received="50.00", paid_on=_in_days(ctx, -1),
            references=(f"{reference}-1",)))

    raised = _change_while_paying(ctx, tenant_id, {"action": "cancel", "plan": reference,
                                           "reason": "moved house"}, pay)
    with ctx.transaction() as session:
        plan = session.scalar(select(PaymentPlan).where(PaymentPlan.reference == reference))
        bills = session.scalars(select(Receivable).where(Receivable.reference.in_(
            [b["reference"] for b in BILLS]))).all()
        kept = sum(r.paid for r in plan_changes.installments(session, plan)
                   if r.status != "cancelled")
        taken = _money_taken(session)
    assert plan.status == "cancelled"
    assert {b.status for b in bills} == {"open"}
    # Whatever became of the payment (refused once the plan was cancelled, or taken first),
    # every cent taken is credited to the bills the plan had taken over.
    assert all(isinstance(e, LoketError) for e in raised) and len(raised) == (taken == 0)
    assert sum(b.paid for b in bills) == taken == kept
    assert sum(b.amount - b.paid for b in bills) == 29775 - taken


def test_a_plan_number_taken_by_hand_meanwhile_is_a_conflict_and_numbering_goes_on(pg_ctx):
    ctx = pg_ctx
    tenant_id = seed(ctx)
    head, seq = re.fullmatch(r"(.*?)(\d+)", _plan(ctx, tenant_id, amount="90.00")).groups()
    following = [f"{head}{int(seq) + step:0{len(seq)}d}" for step in (1, 2)]
    outcome: list = []

    def numbered():
        try:
            outcome.append(_plan(ctx, tenant_id, amount="50.00"))
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            outcome.append(exc)

    thread = threading.Thread(target=numbered)
    with ctx.transaction() as session:  # staff give a plan the next number by hand
        plan_changes.create_plan(ctx, session, ACTOR, tenant_id, {
            "action": "create", "account_number": "WU-10001", "amount": "60.00",
            "installments": 3, "first_due_on": _in_days(ctx, 5),
            "reference": following[0]})
        thread.start()  # an automatic number meanwhile: the same one, not yet seen taken
        _wait_until_blocked(ctx, thread)
    thread.join(30)
    (refused,) = outcome
    assert isinstance(refused, Conflict), refused
    assert [e["field"] for e in refused.errors] == ["reference"]
    assert _plan(ctx, tenant_id, amount="50.00") == following[1]


def test_a_refund_made_while_a_legacy_plan_is_cancelled_waits_instead_of_deadlocking(pg_ctx):
    """Cancelling a plan one of whose items the host cancelled (as it could before loket
    refused that) gives money back to the payments that paid it: it locks them before the
    installments, as a refund locks its payment before the receivables it paid."""
    ctx = pg_ctx
    tenant_id = seed(ctx)
    reference = _plan(ctx, tenant_id, items=BILLS)
    with ctx.transaction() as session:
        payment_id = plan_payments.record_plan_payment(ctx, session, ACTOR, tenant_id,
                                                       reference, {
            "method": "cash", "amount_received": "297.75", "paid_on": _in_days(ctx, -1)}).id
        session.execute(update(Receivable).where(Receivable.reference == BILLS[0]["reference"])
                        .values(status="cancelled"))  # as the host could before

    def refund(session):  # locks the payment, then the installments it paid
        refunds.refund_payment(ctx, session, ACTOR, session.get_one(Payment, payment_id),
                               "10.00", "asked")

    raised = _change_while_paying(ctx, tenant_id, {"action": "cancel", "plan": reference,
                                                   "reason": "moved house"}, refund)
    assert raised == []
    with ctx.transaction() as session:
        payment = session.get_one(Payment, payment_id)
        notes = session.scalars(select(CreditNote).where(
            CreditNote.payment_id == payment_id)).all()
        assert payment.refunded == 1000
        assert [(n.amount, n.reversed) for n in notes] == [(14550, 1000)]
        assert plan_changes.plan_by_reference(session, tenant_id, reference).status == \
            "cancelled"
        check_invariants(session, payment)


def _refunded_by_the_gateway_while(ctx, payment_id: int, staff) -> list:
    """A gateway's refund event of 10.00 of payment ``payment_id`` (locked first, as
    :func:`loket.core.webhooks.outcomes.find_payment` locks it) recorded while ``staff``
    runs in another thread, started once the payment is locked and recorded once ``staff``
    waits for a lock; returns what either raised."""
    raised: list = []
    thread = _in_a_thread(ctx, staff, raised)
    try:
        with ctx.transaction() as session:
            payment = lock_payment(session, payment_id)
            thread.start()
            _wait_until_blocked(ctx, thread)
            refunds.record_refund(session, payment, 1000, "gw-refund-1", "succeeded",
                                  "reported by the gateway", "gateway")
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        raised.append(exc)
    thread.join(30)
    assert not thread.is_alive()
    return raised


def _plan_paid_in_part(ctx, tenant_id: int) -> tuple[str, int]:
    reference = _plan(ctx, tenant_id, amount="100.00", installments=2)
    with ctx.transaction() as session:
        return reference, plan_payments.record_plan_payment(
            ctx, session, ACTOR, tenant_id, reference, {
                "method": "cash", "amount_received": "50.00",
                "paid_on": _in_days(ctx, -1)}).id


def test_a_gateway_refund_while_the_plan_is_cancelled_waits_instead_of_deadlocking(pg_ctx):
    ctx = pg_ctx
    tenant_id = seed(ctx)
    reference, payment_id = _plan_paid_in_part(ctx, tenant_id)

    raised = _refunded_by_the_gateway_while(ctx, payment_id, lambda session: approvals
                                            .change_plan(ctx, session, ACTOR, tenant_id, {
                                                "action": "cancel", "plan": reference,
                                                "reason": "moved house"}))
    assert raised == []
    with ctx.transaction() as session:
        payment = session.get_one(Payment, payment_id)
        assert payment.refunded == 1000
        assert plan_changes.plan_by_reference(session, tenant_id, reference).status == \
            "cancelled"
        check_invariants(session, payment)


def test_a_gateway_refund_during_a_staff_refund_waits_instead_of_deadlocking(pg_ctx):
    ctx = pg_ctx
    tenant_id = seed(ctx)
    reference, payment_id = _plan_paid_in_part(ctx, tenant_id)

    raised = _refunded_by_the_gateway_while(ctx, payment_id, lambda session: refunds
                                            .refund_payment(ctx, session, ACTOR, session
                                                            .get_one(Payment, payment_id),
                                                            "5.00", "asked"))
    assert raised == []
    with ctx.transaction() as session:
        payment = session.get_one(Payment, payment_id)
        plan = plan_changes.plan_by_reference(session, tenant_id, reference)
        first = plan_changes.installments(session, plan)[0]
        assert (payment.refunded, first.paid) == (1500, 3500)
        check_invariants(session, payment)


def test_a_plan_cancelled_while_it_is_being_paid_locks_the_new_payer_too(pg_ctx):
    """The cancellation looks at the plan's payers before the payment is committed, waits
    for the plan, then finds one more payer: it locks again, that payer first."""
    ctx = pg_ctx
    tenant_id = seed(ctx)
    reference = _plan(ctx, tenant_id, items=BILLS)
    raised: list = []
    thread = _in_a_thread(ctx, lambda session: approvals.change_plan(
        ctx, session, ACTOR, tenant_id, {"action": "cancel", "plan": reference,
                                         "reason": "moved house"}), raised)
    with ctx.transaction() as session:
        plan_payments.record_plan_payment(ctx, session, ACTOR, tenant_id, reference, {
            "method": "cash", "amount_received": "50.00", "paid_on": _in_days(ctx, -1)})
        thread.start()
        _wait_until_blocked(ctx, thread)
    thread.join(30)
    assert raised == []
    with ctx.transaction() as session:
        bills = session.scalars(select(Receivable).where(Receivable.reference.in_(
            [b["reference"] for b in BILLS]))).all()
        assert plan_changes.plan_by_reference(session, tenant_id, reference).status == \
            "cancelled"
        assert sum(b.paid for b in bills) == _money_taken(session) == 5000
