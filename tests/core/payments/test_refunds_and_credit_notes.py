"""Credit notes (manual, applied, expiry) and refunds (gateway and counter)."""

import datetime as dt

import pytest
from sqlalchemy import select
from support.engine import ACTOR, connect_sandbox, deliver, outstanding, payer, post, reload, start

from loket.core.models import CreditNote, OutboxEvent, Payment, Todo
from loket.core.payments import credit_notes, refunds
from loket.errors import RefundNotPossible, ValidationFailed


def issue(ctx, payment, amount, reason="Billing Error", remarks=""):
    with ctx.transaction() as session:
        return credit_notes.issue_credit_note(ctx, session, ACTOR,
                                              session.get(Payment, payment.id), amount, reason,
                                              remarks)


def test_manual_credit_notes_never_exceed_the_payment(ctx, tenant_id):
    payment = post(ctx, tenant_id, amount_received="145.50", references=("INV-2025-001234",))
    first = issue(ctx, payment, "100.00")
    assert (first.amount, first.status, first.automatic) == (10000, "active", False)
    with pytest.raises(ValidationFailed, match="at most \\$45.50 is left") as info:
        issue(ctx, payment, "45.51")
    assert info.value.errors[0]["field"] == "amount"
    issue(ctx, payment, "45.50")


@pytest.mark.parametrize("amount, reason, remarks, field", [
    ("0", "Billing Error", "", "amount"),
    ("1.00", "Because", "", "reason"),
    ("1.00", "Other", "r" * 501, "remarks"),
])
def test_invalid_credit_notes_are_refused(ctx, tenant_id, amount, reason, remarks, field):
    payment = post(ctx, tenant_id, amount_received="145.50", references=("INV-2025-001234",))
    with pytest.raises(ValidationFailed) as info:
        issue(ctx, payment, amount, reason, remarks)
    assert info.value.errors[0]["field"] == field


def test_applying_a_credit_note_pays_a_bill_and_tracks_usage(ctx, tenant_id):
    payment = post(ctx, tenant_id, method="card", amount_received="225.50",
                   references=("INV-2025-001234",))  # 80.00 over: automatic credit note
    with ctx.transaction() as session:
        note = session.scalar(select(CreditNote).where(CreditNote.payment_id == payment.id))
        credit_notes.apply_credit_note(ctx, session, ACTOR, note, "bill", "INV-2025-001567",
                                       "30.00")
    with ctx.transaction() as session:
        note = session.get(CreditNote, note.id)
        assert (credit_notes.remaining(note), credit_notes.usage_percent(note)) == (5000, "37.5")
        credit_notes.apply_credit_note(ctx, session, ACTOR, note, "bill", "INV-2025-001567")
    with ctx.transaction() as session:
        note = session.get(CreditNote, note.id)
    assert (note.status, credit_notes.usage_percent(note)) == ("applied", "100.0")
    assert outstanding(ctx, tenant_id, "INV-2025-001567") == 15225 - 8000


def test_a_credit_note_cannot_pay_another_consumers_bill_or_more_than_owed(ctx, tenant_id):
    from loket.errors import NotFound
    payment = post(ctx, tenant_id, method="card", amount_received="245.50",
                   references=("INV-2025-001234",))
    with ctx.transaction() as session:
        note = session.scalar(select(CreditNote).where(CreditNote.payment_id == payment.id))
    with pytest.raises(NotFound), ctx.transaction() as session:
        credit_notes.apply_credit_note(ctx, session, ACTOR, note, "bill", "BILL7890")
    with pytest.raises(ValidationFailed), ctx.transaction() as session:
        credit_notes.apply_credit_note(ctx, session, ACTOR, note, "service", "SRV-LATE-0001",
                                       "25.01")


def test_credit_notes_expire(ctx, tenant_id):
    payment = post(ctx, tenant_id, method="card", amount_received="150.00",
                   references=("INV-2025-001234",))
    later = ctx.now() + dt.timedelta(days=366)
    ctx.clock = lambda: later
    with ctx.transaction() as session:
        assert credit_notes.expire_credit_notes(ctx, session) == 1
        assert credit_notes.expire_credit_notes(ctx, session) == 0
        note = session.scalar(select(CreditNote).where(CreditNote.payment_id == payment.id))
        assert note.status == "expired"
        with pytest.raises(ValidationFailed, match="expired"):
            credit_notes.apply_credit_note(ctx, session, ACTOR, note, "bill", "INV-2025-001567")
    with ctx.transaction() as session:  # the host hears of it, once
        told = session.scalars(select(OutboxEvent).where(
            OutboxEvent.type == "credit_note.expired")).all()
        assert [e.payload["data"] for e in told] == [{"credit_note": {
            "number": note.number, "payment": payment.number,
            "amount": {"amount": 450, "currency": "USD", "decimal": "4.50"},
            "remaining": {"amount": 450, "currency": "USD", "decimal": "4.50"},
            "expires_at": note.expires_at.isoformat()}}]
        assert told[0].ordering_key == f"payment:{payment.number}"


def refund(ctx, payment, amount):
    with ctx.transaction() as session:
        return refunds.refund_payment(ctx, session, ACTOR, session.get(Payment, payment.id),
                                      amount, "requested_by_customer")


def test_partial_then_full_refund_through_the_gateway_reopens_the_bills(ctx, tenant_id):
    connect_sandbox(ctx, tenant_id)
    payment = start(ctx, tenant_id, [("bill", "INV-2025-001234"), ("bill", "INV-2025-001567")])
    deliver(ctx, payer(ctx, payment, "pay"))
    assert refund(ctx, payment, "52.25").status == "partially_refunded"
    assert outstanding(ctx, tenant_id, "INV-2025-001567") == 5225  # newest allocation first
    with pytest.raises(ValidationFailed, match="at most \\$245.50"):
        refund(ctx, payment, "245.51")
    assert refund(ctx, payment, "245.50").status == "refunded"
    assert outstanding(ctx, tenant_id, "INV-2025-001234", "INV-2025-001567") == 29775


def test_a_counter_payment_is_refunded_at_the_counter(ctx, tenant_id):
    payment = post(ctx, tenant_id, amount_received="160.00", change_given="4.50",
                   references=("INV-2025-001234",))
    assert refund(ctx, payment, "10.00").status == "partially_refunded"  # the credit note part
    with ctx.transaction() as session:
        note = session.scalar(select(CreditNote).where(CreditNote.payment_id == payment.id))
    assert note.reversed == 1000 and note.status == "refunded"
    assert outstanding(ctx, tenant_id, "INV-2025-001234") == 0


def test_a_gateway_that_cannot_refund_online_leaves_a_todo_and_records_nothing(ctx, tenant_id):
    from loket import hookimpl

    class ManualOnly:
        LOKET_CONTRACT = "1"

        @hookimpl(tryfirst=True)
        def loket_gateway_refund(self, config, request):
            raise RefundNotPossible("refund must be made manually",
                                    gateway_message="VA payments cannot be refunded online")

    connect_sandbox(ctx, tenant_id)
    payment = start(ctx, tenant_id, [("bill", "INV-2025-001234")])
    deliver(ctx, payer(ctx, payment, "pay"))
    plugin = ManualOnly()
    ctx.plugins.pm.register(plugin, name="manual-only")
    try:
        with pytest.raises(RefundNotPossible, match="manually"):
            refund(ctx, payment, "10.00")
    finally:
        ctx.plugins.pm.unregister(plugin)
    assert reload(ctx, payment).refunded == 0
    with ctx.transaction() as session:
        todo = session.scalar(select(Todo).where(Todo.kind == "payment.manual_refund"))
    assert "VA payments cannot be refunded online" in todo.detail


def test_a_credit_note_voided_with_its_counter_payment_is_told_to_the_host(ctx, tenant_id):
    from loket.core.backoffice import administration
    payment = post(ctx, tenant_id, method="card", amount_received="150.00",
                   references=("INV-2025-001234",))
    with ctx.transaction() as session:
        administration.cancel_posted(ctx, session, ACTOR, session.get_one(Payment, payment.id),
                                     "bounced cheque")
    with ctx.transaction() as session:
        note = session.scalar(select(CreditNote).where(CreditNote.payment_id == payment.id))
        told = session.scalars(select(OutboxEvent).where(
            OutboxEvent.type == "credit_note.cancelled")).all()
        assert note.status == "cancelled"
        assert [e.payload["data"]["credit_note"]["number"] for e in told] == [note.number]
        assert told[0].payload["data"]["credit_note"]["reason"] == "bounced cheque"
        assert told[0].payload["data"]["credit_note"]["amount"]["decimal"] == "4.50"
