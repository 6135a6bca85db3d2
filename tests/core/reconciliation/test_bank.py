"""Bank statement reconciliation: payouts confirmed by reference or by amount, once."""

import datetime as dt

import pytest
from sqlalchemy import select
from support.engine import ACTOR, connect_sandbox, deliver, payer, start, store

from loket.core.models import SettlementRecord, Todo
from loket.core.reconciliation import bank, settlements
from loket.core.settings import load_settings, save_settings
from loket.errors import ValidationFailed
from loket.gateways import sandbox_page
from loket.money import Money


def _settle_one(ctx, tenant_id, item) -> tuple[str, int]:
    """Pay ``item`` through the sandbox and pay it out alone; returns (payout, net)."""
    payment = start(ctx, tenant_id, [item])
    deliver(ctx, payer(ctx, payment, "pay"))
    hooks = sandbox_page.settle(store(ctx))
    for hook in hooks:
        deliver(ctx, hook)
    with ctx.transaction() as session:
        record = session.scalar(select(SettlementRecord).where(
            SettlementRecord.payment_id == payment.id))
        return record.payout_reference, record.net


def _import(ctx, tenant_id, text):
    with ctx.transaction() as session:
        return bank.import_statement(ctx, session, ACTOR, tenant_id, text)


def test_statement_confirms_payouts_by_reference_and_by_amount(ctx, tenant_id):
    connect_sandbox(ctx, tenant_id)
    first, first_net = _settle_one(ctx, tenant_id, ("bill", "INV-2025-001234"))
    second, second_net = _settle_one(ctx, tenant_id, ("service", "SRV-LATE-0001"))
    today = ctx.now().date().isoformat()
    with ctx.transaction() as session:
        waiting = {p["payout_reference"]: p["net"] for p in bank.awaiting_bank(session,
                                                                               tenant_id)}
    assert waiting == {first: first_net, second: second_net}

    def money(minor):
        return f"{minor // 100}.{minor % 100:02d}"

    statement = (
        "date,reference,amount,description\n"
        f"{today},TRF 0091,{money(first_net - 1)},SANDBOX PAYOUT {first.upper()}\n"
        f"{today},TRF 0092,{money(second_net)},SANDBOX\n"          # amount only
        f"{today},TRF 0093,12.34,unknown credit\n"
        f"{today},FEE,-5.00,bank charges\n")                        # a debit: skipped
    result = _import(ctx, tenant_id, statement)
    assert result.matched == (first, second)
    assert result.unmatched == ("TRF 0093",) and result.already_imported == 0
    with ctx.transaction() as session:
        assert bank.awaiting_bank(session, tenant_id) == []
        assert settlements.summary(session, tenant_id)["payouts_awaiting_bank"] == []
        todos = session.scalars(select(Todo).where(Todo.kind == "bank.unmatched")).all()
        short = session.scalars(select(Todo).where(Todo.kind == "bank.amount_mismatch")).all()
    assert len(todos) == 1 and "12.34" in todos[0].title
    assert len(short) == 1 and first in short[0].title  # one cent short of the payout

    again = _import(ctx, tenant_id, statement)
    assert (again.matched, again.unmatched, again.already_imported) == ((), (), 3)


@pytest.mark.parametrize("zone, day", [("America/New_York", "2025-03-31"),
                                       ("Asia/Jakarta", "2025-04-01")])
def test_a_payout_awaiting_the_bank_is_dated_on_the_tenants_calendar(ctx, tenant_id, zone,
                                                                     day):
    connect_sandbox(ctx, tenant_id)
    reference, _net = _settle_one(ctx, tenant_id, ("bill", "INV-2025-001234"))
    with ctx.transaction() as session:
        document = dict(load_settings(session, tenant_id).document)
        save_settings(session, tenant_id, {**document, "timezone": zone})
        for record in session.scalars(select(SettlementRecord).where(
                SettlementRecord.payout_reference == reference)):
            record.settled_at = dt.datetime(2025, 4, 1, 2, 0, tzinfo=dt.UTC)
    with ctx.transaction() as session:
        waiting = bank.awaiting_bank(session, tenant_id)
    assert [(p["payout_reference"], p["settled_on"]) for p in waiting] == [(reference, day)]


def test_a_credit_names_a_payout_by_whole_reference_in_its_own_currency():
    day = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)

    def payout(reference, net, currency="USD"):
        return reference, [SettlementRecord(payout_reference=reference, net=net,
                                            currency=currency, settled_at=day)]

    payouts = dict([payout("PO-1", 1000), payout("PO-10", 2500), payout("EU-7", 2500, "EUR")])

    def matched(reference, minor, currency="USD", description=""):
        return bank._match(bank.BankLine(day.date(), reference, Money(minor, currency),
                                         description), payouts)

    assert matched("TRF PO-10", 2500) == "PO-10"  # not PO-1, which it contains
    assert matched("X", 1000, description="payout po-1 march") == "PO-1"
    assert matched("TRF PO-100", 999) is None
    assert matched("TRF EU-7", 2400, "USD") is None  # named, but paid out in euros
    assert matched("TRF", 2500, "EUR") == "EU-7"  # by amount, in its own currency only


@pytest.mark.parametrize("text, field", [
    ("date,amount\n2025-01-01,1.00\n", "content"),
    ("date,reference,amount\n01/02/2025,X,1.00\n", "line 2.date"),
    ("date,reference,amount\n2025-01-02,X,1.005\n", "line 2.amount"),
])
def test_a_bad_statement_names_the_line_and_column(ctx, tenant_id, text, field):
    with pytest.raises(ValidationFailed) as info:
        _import(ctx, tenant_id, text)
    assert info.value.errors[0]["field"] == field
