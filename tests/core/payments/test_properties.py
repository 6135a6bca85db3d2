"""Property-based tests of loket's money guarantees.

1. Any permutation and duplication of a payment's gateway events ends in the same state.
2. After any sequence of operations the money invariants hold: allocations + credit notes +
   change (+ passed-on fee + refunds) = amount received; a receivable is never paid beyond
   its amount; a credit note never exceeds its payment; nothing is negative.
"""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from support.engine import ACTOR, connect_sandbox, start

from loket.core.gateway_configs import configs
from loket.core.host import receivables
from loket.core.models import (
    Allocation,
    CreditNote,
    CreditNoteApplication,
    Payment,
    Receivable,
)
from loket.core.payments import credit_notes, refunds
from loket.core.payments.counter_payments import CounterPayment, record_counter_payment
from loket.core.payments.invariants import check_invariants
from loket.core.webhooks import outcomes
from loket.errors import LoketError
from loket.money import Money
from loket.types import GatewayEvent

PROPERTY_SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                             suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                    HealthCheck.too_slow])
_counter = itertools.count()


def _new_account(ctx, tenant_id, amounts: list[int]) -> tuple[str, list[str]]:
    """A fresh consumer with open bills of ``amounts`` (minor units)."""
    n = next(_counter)
    account = f"P-{n}"
    refs = [f"B-{n}-{i}" for i in range(len(amounts))]
    with ctx.transaction() as session:
        receivables.upsert_consumer(session, ACTOR, tenant_id,
                                    {"account_number": account, "name": f"Prop {n}"})
        for i, (ref, amount) in enumerate(zip(refs, amounts, strict=True)):
            receivables.upsert_receivable(session, ACTOR, tenant_id, {
                "account_number": account, "kind": "bill", "reference": ref,
                "amount": Money(amount, "USD").decimal_string(),
                "due_date": f"2025-01-{i + 1:02d}"})
    return account, refs


def _events(payment: Payment) -> dict[str, GatewayEvent]:
    total = Money(payment.amount_received, payment.currency)
    base = {"payment_id": payment.number, "gateway_reference": payment.gateway_reference}
    return {
        "paid": GatewayEvent("e-paid", "payment.succeeded", "paid", amount=total, **base),
        "declined": GatewayEvent("e-dec", "payment.failed", "declined",
                                 failure_message="declined", failure_category="declined", **base),
        "expired": GatewayEvent("e-exp", "payment.expired", "expired", **base),
        "settled": GatewayEvent("e-set", "payment.settled", "settled", amount=total,
                                payout_reference="po_1", details={"fee": 30, "net": 0}, **base),
        "refund-a": GatewayEvent("e-ra", "payment.refunded", "refunded",
                                 amount=Money(300, "USD"), refund_reference="re_a", **base),
        "refund-b": GatewayEvent("e-rb", "payment.refunded", "refunded",
                                 amount=Money(200, "USD"), refund_reference="re_b", **base),
    }


def _final(ctx, payment_id: int) -> tuple:
    with ctx.transaction() as session:
        payment = session.get(Payment, payment_id)
        allocated = session.scalar(select(func.coalesce(func.sum(
            Allocation.amount - Allocation.reversed), 0)).where(
            Allocation.payment_id == payment_id, Allocation.state == "posted"))
        return (payment.status, payment.refunded, payment.amount_received, allocated,
                payment.settlement_status, payment.receipt_number is not None)


@pytest.fixture
def sandbox(ctx, tenant_id):
    return connect_sandbox(ctx, tenant_id)


@PROPERTY_SETTINGS
@given(st.data())
def test_any_order_and_duplication_of_events_ends_in_the_same_state(ctx, tenant_id, sandbox,
                                                                     data):
    chosen = data.draw(st.lists(st.sampled_from(
        ["paid", "declined", "expired", "settled", "refund-a", "refund-b"]),
        min_size=1, max_size=6, unique=True), label="events")
    deliveries = data.draw(st.permutations(
        chosen + data.draw(st.lists(st.sampled_from(chosen), max_size=4), label="dupes")),
        label="order")

    results = []
    for order in (sorted(chosen), deliveries):
        account, refs = _new_account(ctx, tenant_id, [1500])
        payment = start(ctx, tenant_id, [("bill", refs[0])], account=account)
        events = _events(payment)
        with ctx.transaction() as session:
            row = configs.get_row(session, tenant_id, "sandbox")
        for name in order:
            with ctx.transaction() as session:
                outcomes.apply_event(ctx, session, row, events[name])
        results.append(_final(ctx, payment.id))
    assert results[0] == results[1]


OPERATIONS = st.lists(st.one_of(
    st.tuples(st.just("counter"), st.integers(1, 40000), st.sampled_from(["cash", "card"]),
              st.integers(0, 2000)),
    st.tuples(st.just("credit"), st.integers(1, 20000)),
    st.tuples(st.just("apply"), st.integers(1, 20000)),
    st.tuples(st.just("refund"), st.integers(1, 20000)),
), min_size=1, max_size=8)


def test_money_invariants_hold_after_any_sequence_of_operations(ctx, tenant_id):
    ran: Counter = Counter()

    @PROPERTY_SETTINGS
    @given(OPERATIONS)
    def check(operations):
        account, refs = _new_account(ctx, tenant_id, [14550, 15225, 7500])
        # An overpayment of the first bill, so there is a payment to refund and a note to
        # apply to the bills still open.
        with ctx.transaction() as session:
            record_counter_payment(ctx, session, ACTOR, tenant_id, CounterPayment(
                account_number=account, payment_type="bill", method="card", paid_on="2025-01-15",
                amount_received="200.00", references=(refs[0],)))
        for op in operations:
            try:
                with ctx.transaction() as session:
                    if _run(ctx, session, account, refs, tenant_id, op):
                        ran[op[0]] += 1
                        event(f"{op[0]} done")
                    else:
                        ran[f"{op[0]} idle"] += 1
                        event(f"{op[0]} had nothing to act on")
            except LoketError as exc:  # refused: must leave everything consistent too
                ran[f"{op[0]} refused"] += 1
                event(f"{op[0]} refused: {type(exc).__name__}")
        _check_all(ctx, tenant_id, account)

    check()
    # Every kind of operation really ran in some examples (not only refused or skipped).
    assert all(ran[kind] >= 3 for kind in ("counter", "credit", "apply", "refund")), ran


def _run(ctx, session, account, refs, tenant_id, op):
    kind = op[0]
    consumer_payments = select(Payment).where(
        Payment.consumer.has(account_number=account)).order_by(Payment.id.desc())
    if kind == "counter":
        _, amount, method, change = op
        return record_counter_payment(ctx, session, ACTOR, tenant_id, CounterPayment(
            account_number=account, payment_type="bill", method=method, paid_on="2025-01-15",
            amount_received=Money(amount, "USD").decimal_string(),
            change_given=Money(change if method == "cash" else 0, "USD").decimal_string()))
    elif kind in ("credit", "refund"):
        payment = session.scalars(consumer_payments).first()
        if payment is None:
            return False
        amount = Money(op[1], "USD").decimal_string()
        if kind == "credit":
            return credit_notes.issue_credit_note(ctx, session, ACTOR, payment, amount, "Other")
        return refunds.refund_payment(ctx, session, ACTOR, payment, amount, "test")
    elif kind == "apply":
        note = session.scalars(select(CreditNote).where(
            CreditNote.status == "active",
            CreditNote.consumer.has(account_number=account))).first()
        if note is None:
            return False
        open_bill = session.scalars(select(Receivable).where(
            Receivable.reference.in_(refs), Receivable.status == "open")).first()
        if open_bill is None:
            return False
        return credit_notes.apply_credit_note(ctx, session, ACTOR, note, "bill",
                                              open_bill.reference,
                                              Money(op[1], "USD").decimal_string())


def _check_all(ctx, tenant_id, account):
    with ctx.transaction() as session:
        for payment in session.scalars(select(Payment).where(Payment.tenant_id == tenant_id)):
            check_invariants(session, payment)
            if payment.is_test:
                continue
            # The same sums computed here, independently of the engine's own check.
            allocated = sum(a.amount - a.reversed for a in session.scalars(select(Allocation)
                            .where(Allocation.payment_id == payment.id,
                                   Allocation.state == "posted")))
            notes = session.scalars(select(CreditNote).where(
                CreditNote.payment_id == payment.id)).all()
            automatic = sum(n.amount - n.reversed for n in notes if n.automatic)
            manual = sum(n.amount - n.reversed for n in notes if not n.automatic)
            assert allocated + automatic + payment.change_given + payment.refunded == \
                payment.amount_received
            assert manual + payment.refunded <= payment.amount_received - payment.change_given
        for receivable in session.scalars(select(Receivable).where(
                Receivable.tenant_id == tenant_id)):
            allocated = session.scalar(select(func.coalesce(func.sum(
                Allocation.amount - Allocation.reversed), 0)).where(
                Allocation.receivable_id == receivable.id, Allocation.state == "posted"))
            credited = session.scalar(select(func.coalesce(func.sum(
                CreditNoteApplication.amount), 0)).where(
                CreditNoteApplication.receivable_id == receivable.id))
            assert 0 <= receivable.paid <= receivable.amount
            assert receivable.paid == allocated + credited
            assert (receivable.status == "paid") == (receivable.paid == receivable.amount)
        for note in session.scalars(select(CreditNote).where(CreditNote.tenant_id == tenant_id)):
            assert 0 <= note.applied + note.reversed <= note.amount
            assert note.applied == sum(a.amount for a in session.scalars(
                select(CreditNoteApplication).where(
                    CreditNoteApplication.credit_note_id == note.id)))
            payment = session.get(Payment, note.payment_id)
            assert note.amount <= payment.amount_received

