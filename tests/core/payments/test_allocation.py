"""The allocation rules of part and lump-sum payments (loket/core/payments/allocation.py),
as properties over random obligations and amounts, and through the counter engine."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from support.engine import ACTOR

from loket.core.models import Allocation, CreditNote, Payment, Receivable
from loket.core.payments import allocation, counter_payments
from loket.core.payments.allocation import AmountPolicy
from loket.errors import ValidationFailed
from loket.money import Money
from loket.types import Obligation

obligations = st.lists(st.tuples(st.integers(1, 10**9), st.one_of(st.none(), st.dates(
    dt.date(2024, 1, 1), dt.date(2026, 1, 1)))), min_size=1, max_size=8).map(
    lambda rows: [Obligation(receivable_id=i + 1, kind="bill", reference=f"B{i}",
                             description="", amount_due=Money(owed, "USD"),
                             outstanding=Money(owed, "USD"), due_date=due)
                  for i, (owed, due) in enumerate(rows)])


@given(obligations, st.integers(0, 10**10))
def test_split_never_pays_an_item_beyond_what_it_owes_and_keeps_every_unit(items, amount):
    parts = allocation.split(items, amount)
    total = sum(o.outstanding.amount for o in items)
    assert all(0 < part <= o.outstanding.amount for o, part in parts)
    assert sum(part for _, part in parts) == min(amount, total)
    ordered = [o.receivable_id for o in allocation.oldest_first(items)]
    paid = [o.receivable_id for o, _ in parts]
    assert paid == ordered[:len(paid)]  # oldest first, no item skipped
    assert all(part == o.outstanding.amount for o, part in parts[:-1])  # only the last is short


@given(st.integers(1, 10**9), st.integers(0, 10**9), st.integers(0, 100))
def test_a_part_payment_is_between_the_minimum_and_the_total(total, minimum, percent):
    policy = AmountPolicy(partial=True, minimum=minimum, minimum_percent=str(percent))
    least = policy.least(total)
    assert 1 <= least <= total
    assert policy.check(least, total, "USD") == least
    assert policy.check(None, total, "USD") == total
    with pytest.raises(ValidationFailed):
        policy.check(total + 1, total, "USD")
    if least > 1:
        with pytest.raises(ValidationFailed) as refused:
            policy.check(least - 1, total, "USD")
        assert refused.value.errors[0]["field"] == "amount"


def test_without_part_payments_only_the_total_is_accepted():
    with pytest.raises(ValidationFailed, match="part payments are not allowed"):
        AmountPolicy().check(100, 200, "USD")
    assert AmountPolicy().check(200, 200, "USD") == 200


def _money_of(ctx, number):
    with ctx.transaction() as session:
        payment = session.scalar(select(Payment).where(Payment.number == number))
        allocated = sum(a.amount for a in session.scalars(select(Allocation).where(
            Allocation.payment_id == payment.id, Allocation.state == "posted")))
        credit = sum(n.amount for n in session.scalars(select(CreditNote).where(
            CreditNote.payment_id == payment.id)))
        receivables = list(session.scalars(select(Receivable)))
        return payment, allocated, credit, receivables


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(received=st.integers(1, 60000), change=st.integers(0, 3000))
def test_counter_lump_sum_adds_up_and_never_overpays(ctx, tenant_id, received, change):
    change = min(change, received)
    entry = counter_payments.CounterPayment(
        account_number="WU-10001", payment_type="account", method="cash",
        amount_received=Money(received, "USD").decimal_string(), paid_on="2025-01-15",
        change_given=Money(change, "USD").decimal_string())
    with ctx.transaction() as session:
        before = {r.id: r.paid for r in session.scalars(select(Receivable))}
    try:
        with ctx.transaction() as session:
            number = counter_payments.record_counter_payment(ctx, session, ACTOR, tenant_id,
                                                             entry).number
    except ValidationFailed:
        return  # above the outstanding plus the threshold: refused, nothing moved
    payment, allocated, credit, receivables = _money_of(ctx, number)
    assert allocated + credit + payment.change_given == payment.amount_received
    assert all(0 <= r.paid <= r.amount for r in receivables)
    assert sum(r.paid - before[r.id] for r in receivables) == allocated


def test_a_counter_payment_covers_a_bill_and_a_service_together(ctx, tenant_id):
    entry = counter_payments.CounterPayment(
        account_number="WU-10001", payment_type="mixed", method="cash",
        amount_received="250.00", change_given="29.50", paid_on="2025-01-15",
        items=(("bill", "INV-2025-001234"), ("service", "SRV-RECON-0001")))
    with ctx.transaction() as session:
        payment = counter_payments.record_counter_payment(ctx, session, ACTOR, tenant_id, entry)
    _, allocated, credit, receivables = _money_of(ctx, payment.number)
    paid = {r.reference: r.paid for r in receivables}
    assert paid["INV-2025-001234"] == 14550 and paid["SRV-RECON-0001"] == 7500
    assert (allocated, credit, payment.payment_type) == (22050, 0, "mixed")


def test_references_alone_are_found_in_any_kind(ctx, tenant_id):
    entry = counter_payments.CounterPayment(
        account_number="WU-10001", payment_type="mixed", method="card",
        amount_received="100.00", paid_on="2025-01-15",
        references=("SRV-LATE-0001", "INV-2025-001567"))
    with ctx.transaction() as session:
        payment = counter_payments.record_counter_payment(ctx, session, ACTOR, tenant_id, entry)
    _, allocated, _, receivables = _money_of(ctx, payment.number)
    paid = {r.reference: r.paid for r in receivables}
    # oldest due first: the late fee (due 2025-03-01) before the February bill (2025-03-15)
    assert (paid["SRV-LATE-0001"], paid["INV-2025-001567"]) == (2500, 7500)
