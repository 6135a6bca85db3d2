"""Posting money: a processor that hands back a receivable of another account than the
payment's (a plan the host filled with another account's installment, before loket refused
that) breaks an invariant; nothing is paid."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from support.engine import post

from loket.core.models import Allocation, Payment, PaymentPlan, Receivable
from loket.core.payments.invariants import InvariantBroken
from loket.core.payments.posting import post_allocations
from loket.core.settings import load_settings


def test_money_never_pays_another_accounts_receivable(ctx, tenant_id):
    payment = post(ctx, tenant_id, amount_received="10.00", references=("INV-2025-001234",))
    with ctx.transaction() as session:
        plan_id = session.scalar(select(PaymentPlan.id).where(
            PaymentPlan.reference == "PP-2025-0034"))  # WU-10001's
        session.execute(update(Receivable).where(Receivable.reference == "BILL7890").values(
            kind="installment", plan_id=plan_id, sequence=0))  # CRN29391's, oldest first
    with ctx.transaction() as session:
        settings = load_settings(session, tenant_id)
        ids = session.scalars(select(Receivable.id).where(Receivable.plan_id == plan_id)
                              .order_by(Receivable.sequence)).all()
        with pytest.raises(InvariantBroken, match="BILL7890 of another account"):
            post_allocations(ctx, session, session.get_one(Payment, payment.id), settings,
                             [(settings.destination_for_processor("payplan"), ids, 20000)])
    with ctx.transaction() as session:
        assert session.scalar(select(Receivable.paid).where(
            Receivable.reference == "BILL7890")) == 0
        assert session.scalars(select(Allocation.amount).where(
            Allocation.payment_id == payment.id)).all() == [1000]
