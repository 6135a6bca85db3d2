"""The money invariants checked at once, and deferred to the end of an optimistic batch:
both find the same broken payment, the deferred check in one statement for all."""

import pytest
from sqlalchemy import select
from support.db import statements_sent
from support.engine import post

from loket.core.models import Allocation, Payment
from loket.core.payments.invariants import (
    InvariantBroken,
    check_deferred,
    check_invariants,
    defer_checks,
)


@pytest.fixture
def paid(ctx, tenant_id) -> list[int]:
    """Three counter payments of WU-10001's bills, cash with change."""
    ids = []
    for reference in ("INV-2025-001234", "INV-2025-001567", "SRV-RECON-0001"):
        kind = "service" if reference.startswith("SRV") else "bill"
        ids.append(post(ctx, tenant_id, payment_type=kind, amount_received="200.00",
                        references=(reference,)).id)
    return ids


def test_deferred_checks_pass_consistent_payments_in_one_statement(ctx, paid):
    with ctx.transaction() as session:
        payments = session.scalars(select(Payment).where(Payment.id.in_(paid))).all()
        defer_checks(session)
        seen = statements_sent(ctx.engine)
        for payment in payments:
            check_invariants(session, payment)
        assert seen == []  # noted, not checked yet
        check_deferred(session)
        assert len(seen) == 1
        check_invariants(session, payments[0])  # checked at once again
        assert len(seen) == 2


def test_a_deferred_check_finds_the_payment_an_immediate_check_finds(ctx, paid):
    def broken_second(session) -> list[Payment]:
        payments = session.scalars(select(Payment).where(Payment.id.in_(paid))
                                   .order_by(Payment.id)).all()
        allocation = session.scalars(select(Allocation).where(
            Allocation.payment_id == payments[1].id)).first()
        allocation.amount += 1  # a cent allocated that the payment never received
        return payments

    with pytest.raises(InvariantBroken, match="do not add up") as at_once:
        with ctx.transaction() as session:
            for payment in broken_second(session):
                check_invariants(session, payment)
    with pytest.raises(InvariantBroken, match="do not add up") as deferred:
        with ctx.transaction() as session:
            defer_checks(session)
            for payment in broken_second(session):
                check_invariants(session, payment)
            check_deferred(session)
    assert str(at_once.value) == str(deferred.value)
