"""Making payment plans: a plan number staff gave a plan by hand is passed over by the
automatic numbering, which goes on making plans. Cancelling one: an item the host cancelled
while the plan ran stays cancelled, what no item can take becomes credit notes, and an item
the host tagged with the plan counts as none of its installments."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select, update
from support.engine import ACTOR, post

from loket.core.host import plan_changes, plan_payments, plan_queries
from loket.core.models import Allocation, CreditNote, PaymentPlan, Receivable, Todo
from loket.core.payments import credit_notes
from loket.core.payments.invariants import check_invariants


def _make(ctx, tenant_id: int, reference: str | None = None) -> str:
    """A plan of 100.00 in two for WU-10001 (numbered automatically without
    ``reference``), made in its own transaction; returns its reference."""
    with ctx.transaction() as session:
        return plan_changes.create_plan(ctx, session, ACTOR, tenant_id, {
            "action": "create", "account_number": "WU-10001", "amount": "100.00",
            "installments": 2, "reference": reference,
            "first_due_on": (ctx.now().date() + dt.timedelta(days=10)).isoformat()}).reference


def _following(reference: str, step: int = 1) -> str:
    """The automatic number ``step`` after ``reference`` (``PP-2026-0001`` -> ``…0002``)."""
    head, seq = re.fullmatch(r"(.*?)(\d+)", reference).groups()
    return f"{head}{int(seq) + step:0{len(seq)}d}"


def test_numbers_given_by_hand_are_passed_over_by_the_automatic_numbering(ctx, tenant_id):
    first = _make(ctx, tenant_id)
    _make(ctx, tenant_id, reference=_following(first))  # the next number, taken by hand
    _make(ctx, tenant_id, reference=_following(first, 3))
    made = [_make(ctx, tenant_id) for _ in range(3)]
    assert made == [_following(first, 2), _following(first, 4), _following(first, 5)]
    with ctx.transaction() as session:
        assert len(session.scalars(select(PaymentPlan.id)).all()) == 7  # 6 + the demo's


def test_an_item_the_host_cancelled_stays_cancelled_and_its_money_becomes_credit(ctx,
                                                                                 tenant_id):
    with ctx.transaction() as session:
        reference = plan_changes.create_plan(ctx, session, ACTOR, tenant_id, {
            "action": "create", "account_number": "WU-10001", "installments": 3,
            "first_due_on": (ctx.now().date() + dt.timedelta(days=10)).isoformat(),
            "items": [{"kind": "bill", "reference": "INV-2025-001234"},  # 145.50, due first
                      {"kind": "bill", "reference": "INV-2025-001567"}]}).reference  # 152.25
    with ctx.transaction() as session:
        payment = plan_payments.record_plan_payment(ctx, session, ACTOR, tenant_id, reference, {
            "method": "cash", "amount_received": "297.75",
            "paid_on": ctx.now().date().isoformat()})
    with ctx.transaction() as session:  # as the host could before loket refused it
        session.execute(update(Receivable).where(Receivable.reference == "INV-2025-001234")
                        .values(status="cancelled"))
    with ctx.transaction() as session:
        plan = plan_changes.plan_by_reference(session, tenant_id, reference, lock=True)
        plan_changes.cancel_plan(ctx, session, ACTOR, plan, "asked")
    with ctx.transaction() as session:
        items = {r.reference: (r.amount, r.paid, r.status) for r in session.scalars(
            select(Receivable).where(Receivable.reference.like("INV-%")))}
        assert items == {"INV-2025-001234": (14550, 0, "cancelled"),
                         "INV-2025-001567": (15225, 15225, "paid")}
        notes = [(n.amount, n.automatic, n.reason) for n in session.scalars(
            select(CreditNote).where(CreditNote.payment_id == payment.id))]
        assert notes == [(14550, True, "Billing Adjustment")]
        kept = session.scalars(select(Receivable).where(
            Receivable.reference.like(f"{reference}-%"))).all()
        assert sum(r.paid for r in kept) == sum(r.amount for r in kept if r.paid) == 15225
        assert sum(a.amount - a.reversed for a in session.scalars(select(Allocation).where(
            Allocation.payment_id == payment.id))) == 15225
        check_invariants(session, session.merge(payment))


def test_credit_no_allocation_holds_is_left_to_staff(ctx, tenant_id):
    overpaid = post(ctx, tenant_id, payment_type="service", amount_received="150.00",
                    references=("SRV-RECON-0001",))  # 75.00 over: an automatic credit note
    with ctx.transaction() as session:
        reference = plan_changes.create_plan(ctx, session, ACTOR, tenant_id, {
            "action": "create", "account_number": "WU-10001", "installments": 3,
            "first_due_on": (ctx.now().date() + dt.timedelta(days=10)).isoformat(),
            "items": [{"kind": "bill", "reference": "INV-2025-001234"}]}).reference
    with ctx.transaction() as session:
        note = session.scalars(select(CreditNote).where(
            CreditNote.payment_id == overpaid.id)).one()
        credit_notes.apply_credit_note(ctx, session, ACTOR, note, "installment", f"{reference}-1")
        session.execute(update(Receivable).where(Receivable.reference == "INV-2025-001234")
                        .values(status="cancelled"))
    with ctx.transaction() as session:
        plan = plan_changes.plan_by_reference(session, tenant_id, reference, lock=True)
        plan_changes.cancel_plan(ctx, session, ACTOR, plan, "asked")
    with ctx.transaction() as session:
        todo = session.scalars(select(Todo).where(Todo.kind == "plan.credit_left")).one()
        assert (todo.entity_id, "48.50 USD" in todo.title) == (reference, True)
        assert session.scalar(select(Receivable.status).where(
            Receivable.reference == "INV-2025-001234")) == "cancelled"



def test_an_item_tagged_with_its_plan_is_no_installment_of_it(ctx, tenant_id):
    post(ctx, tenant_id, amount_received="40.00", references=("INV-2025-001234",))
    with ctx.transaction() as session:
        plan = plan_changes.create_plan(ctx, session, ACTOR, tenant_id, {
            "action": "create", "account_number": "WU-10001", "installments": 2,
            "first_due_on": (ctx.now().date() + dt.timedelta(days=10)).isoformat(),
            "items": [{"kind": "bill", "reference": "INV-2025-001234"}]})
        reference, plan_id = plan.reference, plan.id
    with ctx.transaction() as session:  # as the host could before loket refused it
        session.execute(update(Receivable).where(Receivable.reference == "INV-2025-001234")
                        .values(plan_id=plan_id))
    with ctx.transaction() as session:
        plan = plan_changes.plan_by_reference(session, tenant_id, reference)
        standing = plan_queries.standing(session, plan, ctx.now())
        assert (standing.amount, standing.paid, len(standing.schedule)) == (10550, 0, 2)
    with ctx.transaction() as session:
        plan = plan_changes.plan_by_reference(session, tenant_id, reference, lock=True)
        plan_changes.cancel_plan(ctx, session, ACTOR, plan, "asked")
    with ctx.transaction() as session:
        bill = session.scalar(select(Receivable).where(
            Receivable.reference == "INV-2025-001234"))
        assert (bill.amount, bill.paid, bill.status) == (14550, 4000, "open")
        assert session.scalar(select(CreditNote)) is None
