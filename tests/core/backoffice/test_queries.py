"""Paging and searching the back-office lists: every page says how many rows match in all, the
last page included, whether or not the total had to be counted; a search finds a number
given after the payment was made, never a deleted payment, and takes its characters
literally (on PostgreSQL through the trigram index, on SQLite through the FTS5 tables)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete, insert, select
from support.engine import ACTOR

from loket.core import tenants
from loket.core.backoffice import queries
from loket.core.models import Payment

WHEN = dt.datetime(2025, 5, 1, tzinfo=dt.UTC)


@pytest.fixture
def payments(ctx) -> int:
    """A tenant with 25 payments ``PAY-0000`` .. ``PAY-0024``; returns its id."""
    with ctx.transaction() as session:
        tenant_id = tenants.create_tenant(session, ACTOR, "paging", "Paging", {
            "currency": "USD"}).id
        session.execute(insert(Payment), [{
            "tenant_id": tenant_id, "number": f"PAY-{i:04d}", "channel": "online",
            "method": "card", "payment_type": "bill", "status": "posted", "currency": "USD",
            "amount": 100, "fee": 0, "amount_received": 100, "change_given": 0,
            "refunded": 0, "gateway_details": {}, "created_at": WHEN + dt.timedelta(minutes=i),
            "updated_at": WHEN} for i in range(25)])
    return tenant_id


@pytest.mark.parametrize(("page", "shown", "next_page"), [(1, 10, 2), (3, 5, None),
                                                          (4, 0, None)])
def test_every_page_gives_the_exact_total(ctx, payments, page, shown, next_page):
    with ctx.transaction() as session:
        result = queries.list_payments(session, payments, queries.PaymentFilters(),
                                       page=page, limit=10)
        assert (len(result.items), result.total, result.exact, result.next_page) == (
            shown, 25, True, next_page)


def test_a_narrow_search_counts_what_it_shows(ctx, payments):
    with ctx.transaction() as session:
        result = queries.list_payments(session, payments,
                                       queries.PaymentFilters(q="pay-001"), limit=10)
        assert sorted(p.number for p in result.items) == [f"PAY-{i:04d}" for i in range(10, 20)]
        assert (result.total, result.exact, result.next_page) == (10, True, None)
        newest = queries.list_payments(session, payments, queries.PaymentFilters(q="0024"))
        assert [p.number for p in newest.items] == ["PAY-0024"] and newest.total == 1


def test_a_number_given_later_is_found_and_a_deleted_payment_is_not(ctx, payments):
    with ctx.transaction() as session:
        first = session.scalar(select(Payment).where(Payment.number == "PAY-0003"))
        first.receipt_number = "RCPT-77*9"
        session.execute(delete(Payment).where(Payment.number == "PAY-0004"))
    with ctx.transaction() as session:
        def found(q: str) -> list[str]:
            return [p.number for p in queries.list_payments(
                session, payments, queries.PaymentFilters(q=q)).items]
        assert found("rcpt-77*9") == ["PAY-0003"]
        assert found("77?9") == found("%") == found("_") == []
        assert found("pay-0004") == []
