"""Counter payments: cash with change, overpayment credit notes, partial payments."""

import pytest
from sqlalchemy import select, update
from support.engine import ACTOR, outstanding, post, seed_yen

from loket import hookimpl
from loket.core.host import receivables
from loket.core.models import Allocation, CreditNote, Receivable
from loket.core.payments import counter_payments
from loket.errors import Conflict, ValidationFailed
from loket.money import Money


def test_cash_with_change_pays_the_bills_and_records_the_change(ctx, tenant_id):
    payment = post(ctx, tenant_id, amount_received="300.00", change_given="2.25")
    assert (payment.status, payment.verification) == ("posted", "verified")
    assert payment.gateway_details["processing_time"] == "Immediate"
    assert (payment.number, payment.transaction_number, payment.receipt_number) == \
        (f"PAY-{payment.created_at.year}-000001", f"TXN-{payment.created_at.year}-000001", "R-1")
    assert (payment.amount_received, payment.change_given, payment.amount) == (30000, 225, 29775)
    assert outstanding(ctx, tenant_id, "INV-2025-001234", "INV-2025-001567") == 0
    assert payment.channel == "walk-in"


def test_an_overpayment_becomes_a_credit_note(ctx, tenant_id):
    payment = post(ctx, tenant_id, method="card", amount_received="200.00",
                   references=("INV-2025-001234",))
    with ctx.transaction() as session:
        note = session.scalar(select(CreditNote).where(CreditNote.payment_id == payment.id))
    assert (note.amount, note.reason, note.automatic, note.number) == (5450, "Overpayment",
                                                                        True, "CN-1")
    assert (note.expires_at - note.created_at).days == 365


def test_an_underpayment_pays_the_oldest_bill_first(ctx, tenant_id):
    post(ctx, tenant_id, method="bank_transfer", amount_received="200.00")
    with ctx.transaction() as session:
        rows = {r.reference: r for r in session.scalars(select(Receivable).where(
            Receivable.reference.in_(("INV-2025-001234", "INV-2025-001567"))))}
    assert (rows["INV-2025-001234"].status, rows["INV-2025-001234"].paid) == ("paid", 14550)
    assert (rows["INV-2025-001567"].status, rows["INV-2025-001567"].paid) == ("open", 5450)


def test_installments_by_plan_order(ctx, tenant_id):
    post(ctx, tenant_id, payment_type="installment", amount_received="100.00")
    assert outstanding(ctx, tenant_id, "PP-2025-0034-1") == 0
    assert outstanding(ctx, tenant_id, "PP-2025-0034-2") == 6750 - 3250
    assert outstanding(ctx, tenant_id, "PP-2025-0034-3") == 6750


def test_more_than_outstanding_plus_threshold_is_refused_and_nothing_moves(ctx, tenant_id):
    with pytest.raises(ValidationFailed) as info:
        post(ctx, tenant_id, amount_received="798.00")  # 297.75 + 500.00 threshold < 798
    assert info.value.errors[0]["field"] == "amount_received"
    assert "overpayment threshold" in info.value.detail
    assert outstanding(ctx, tenant_id, "INV-2025-001234", "INV-2025-001567") == 29775
    with ctx.transaction() as session:
        assert session.scalars(select(Allocation)).first() is None


def test_every_missing_field_has_its_own_error(ctx, tenant_id):
    with pytest.raises(ValidationFailed) as info:
        post(ctx, tenant_id, account_number="", payment_type="", method="",
             amount_received="", notes="x" * 501)
    assert {e["field"] for e in info.value.errors} == {
        "consumer", "payment_type", "method", "amount_received", "notes"}


@pytest.mark.parametrize("fields, field", [
    ({"amount_received": "12.345"}, "amount_received"),
    ({"amount_received": "-5"}, "amount_received"),
    ({"amount_received": "10", "change_given": "11"}, "change_given"),
    ({"amount_received": "10", "method": "card", "change_given": "1"}, "change_given"),
    ({"amount_received": "10", "account_number": "NOBODY"}, "consumer"),
    ({"amount_received": "10", "references": ("BILL7890",)}, "reference"),
    ({"amount_received": "291.00", "payment_type": "mixed",  # an item and its reference
      "items": (("bill", "INV-2025-001234"),), "references": ("INV-2025-001234",)},
     "references[0]"),
    ({"amount_received": "10", "payment_type": "mixed", "references": ("NOPE",)},
     "references[0]"),
])
def test_bad_input_names_the_field(ctx, tenant_id, fields, field):
    with pytest.raises(ValidationFailed) as info:
        post(ctx, tenant_id, **fields)
    assert info.value.errors[0]["field"] == field


def test_an_idempotency_key_records_the_payment_once(ctx, tenant_id):
    first = post(ctx, tenant_id, key="till-7-0001", amount_received="145.50",
                 references=("INV-2025-001234",))
    again = post(ctx, tenant_id, key="till-7-0001", amount_received="145.50",
                 references=("INV-2025-001234",))
    assert again.id == first.id
    with pytest.raises(Conflict):
        post(ctx, tenant_id, key="till-7-0001", amount_received="150.00")


def test_a_card_payment_may_say_no_change_as_zero_point_zero_zero(ctx, tenant_id):
    payment = post(ctx, tenant_id, method="card", amount_received="145.50",
                   change_given="0.00", references=("INV-2025-001234",))
    assert (payment.status, payment.change_given) == ("posted", 0)


class StatusListener:
    """A plugin that records the payment state changes it hears."""

    def __init__(self):
        self.heard = []

    @hookimpl
    def loket_payment_status_changed(self, payment, old_status, new_status):
        self.heard.append((payment.payment_id, old_status, new_status, payment.amount,
                           payment.account_number))


def test_a_plugin_listening_to_status_changes_hears_a_counter_payments_change(ctx, tenant_id):
    listener = StatusListener()
    ctx.plugins.register(listener, name="status-listener")
    try:
        assert ctx.plugins.hears_status_changes()
        payment = post(ctx, tenant_id, amount_received="300.00", change_given="2.25")
    finally:
        ctx.plugins.pm.unregister(name="status-listener")
    assert listener.heard == [(payment.number, None, "posted", Money(30000, "USD"),
                               "WU-10001")]


def test_a_mixed_payment_splits_what_the_items_owe_once_locked(ctx, tenant_id, monkeypatch):
    """Another cashier's 100.00 on the bill commits between this payment's read of its items
    and its lock of them: the service is still paid in full, and only the true excess
    becomes credit."""
    allocate = counter_payments._allocate

    def after_another_payment(ctx_, session, settings, payment, chosen, applied):
        session.execute(update(Receivable).where(
            Receivable.tenant_id == tenant_id, Receivable.reference == "INV-2025-001234")
            .values(paid=10000))
        return allocate(ctx_, session, settings, payment, chosen, applied)

    monkeypatch.setattr(counter_payments, "_allocate", after_another_payment)
    payment = post(ctx, tenant_id, payment_type="mixed", amount_received="180.00",
                   items=(("bill", "INV-2025-001234"), ("service", "SRV-RECON-0001")))
    assert outstanding(ctx, tenant_id, "INV-2025-001234", "SRV-RECON-0001") == 0
    with ctx.transaction() as session:
        notes = session.scalars(select(CreditNote.amount).where(
            CreditNote.payment_id == payment.id)).all()
    assert notes == [18000 - 4550 - 7500]
    assert payment.amount == 4550 + 7500


def test_a_jpy_tenant_on_default_settings_records_a_counter_payment_with_an_overpayment(ctx):
    tenant_id = seed_yen(ctx, "INV-1")
    # the default threshold is 500 yen: 1,200 owed plus 500 is accepted, 1 more is not
    payment = post(ctx, tenant_id, amount_received="1700", references=("INV-1",))
    assert (payment.amount_received, payment.amount) == (1700, 1200)
    with ctx.transaction() as session:
        assert session.scalar(select(CreditNote.amount).where(
            CreditNote.payment_id == payment.id)) == 500
    with ctx.transaction() as session:
        receivables.upsert_receivable(session, ACTOR, tenant_id, {
            "account_number": "WU-10001", "kind": "bill", "reference": "INV-2",
            "amount": "1200"})
    with pytest.raises(ValidationFailed) as info:
        post(ctx, tenant_id, amount_received="1701", references=("INV-2",))
    assert info.value.errors[0]["field"] == "amount_received"
