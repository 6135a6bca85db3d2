"""Bank statement reconciliation: payouts confirmed by reference or by amount, once."""

import datetime as dt
from zoneinfo import ZoneInfo

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


@pytest.mark.parametrize("zone, settled_at, booked_on", [
    # 22:00 on 31 March in New York, already 1 April in UTC: credited the same local day
    ("America/New_York", dt.datetime(2025, 4, 1, 2, 0, tzinfo=dt.UTC), "2025-03-31"),
    # 03:00 on 27 March in Jakarta, still 26 March in UTC: credited the window's last day
    ("Asia/Jakarta", dt.datetime(2025, 3, 26, 20, 0, tzinfo=dt.UTC), "2025-04-01"),
])
def test_a_credit_matches_by_amount_within_the_window_on_the_tenants_calendar(
        ctx, tenant_id, zone, settled_at, booked_on):
    connect_sandbox(ctx, tenant_id)
    reference, net = _settle_one(ctx, tenant_id, ("bill", "INV-2025-001234"))
    with ctx.transaction() as session:
        document = dict(load_settings(session, tenant_id).document)
        save_settings(session, tenant_id, {**document, "timezone": zone})
        for record in session.scalars(select(SettlementRecord).where(
                SettlementRecord.payout_reference == reference)):
            record.settled_at = settled_at
    with ctx.transaction() as session:
        settled_on = dt.date.fromisoformat(bank.awaiting_bank(session, tenant_id)[0]["settled_on"])
    assert (dt.date.fromisoformat(booked_on) - settled_on).days in (0, bank.DATE_WINDOW_DAYS)
    result = _import(ctx, tenant_id, f"date,reference,amount\n{booked_on},TRF 0091,"
                                     f"{net // 100}.{net % 100:02d}\n")
    assert (result.matched, result.unmatched) == ((reference,), ())
    with ctx.transaction() as session:
        assert bank.awaiting_bank(session, tenant_id) == []
        assert session.scalars(select(Todo.kind).where(Todo.tenant_id == tenant_id,
                                                       Todo.kind.like("bank.%"))).all() == []


def test_a_credit_names_a_payout_by_whole_reference_in_its_own_currency():
    day = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)

    def payout(reference, net, currency="USD"):
        return reference, [SettlementRecord(payout_reference=reference, net=net,
                                            currency=currency, settled_at=day)]

    payouts = dict([payout("PO-1", 1000), payout("PO-10", 2500), payout("EU-7", 2500, "EUR")])

    def matched(reference, minor, currency="USD", description=""):
        return bank._match(bank.BankLine(day.date(), reference, Money(minor, currency),
                                         description), payouts, ZoneInfo("UTC"))

    assert matched("TRF PO-10", 2500) == "PO-10"  # not PO-1, which it contains
    assert matched("X", 1000, description="payout po-1 march") == "PO-1"
    assert matched("TRF PO-100", 999) is None
    assert matched("TRF EU-7", 2400, "USD") is None  # named, but paid out in euros
    assert matched("TRF", 2500, "EUR") == "EU-7"  # by amount, in its own currency only


@pytest.mark.parametrize("text, field", [
    ("date,amount\n2025-01-01,1.00\n", "content"),
    ("date,reference,amount\n01/02/2025,X,1.00\n", "line 2.date"),
    ("date,reference,amount\n2025-01-02,X,1.005\n", "line 2.amount"),
    ("date,reference,amount\n\n2025-01-02,X,1.0x\n", "line 3.amount"),  # after a blank line
    ("date,reference,amount\n2025-01-02,X\n", "line 2"),  # no amount
])
def test_a_bad_statement_names_the_line_and_column(ctx, tenant_id, text, field):
    with pytest.raises(ValidationFailed) as info:
        _import(ctx, tenant_id, text)
    assert info.value.errors[0]["field"] == field


def test_a_line_with_more_fields_than_the_header_is_named_with_what_to_do(ctx, tenant_id):
    statement = ("date,reference,amount,description\n"
                 '2025-03-31,TRF 1,"1,500.00",quoted\n'
                 "2025-03-31,TRF 2,1,500.00,\n")  # 1.00 and 500.00 if read by position
    with pytest.raises(ValidationFailed) as info:
        _import(ctx, tenant_id, statement)
    assert info.value.errors == [{"field": "line 3", "message": (
        'line 3: more fields (5) than the header (4); put an amount or text that contains '
        'a comma in quotes, as "1,500.00"')}]
    first = bank.parse_statement("".join(statement.splitlines(keepends=True)[:2]), "USD")
    assert [(line.reference, line.amount.amount, line.description) for line in first] == [
        ("TRF 1", 150000, "quoted")]


def test_a_line_with_fewer_fields_than_the_header_names_what_it_lacks(ctx, tenant_id):
    statement = ("date,reference,amount,description\n"
                 "2025-03-31,TRF 1,1.00\n"  # the description, which may be left out
                 "2025-03-31,1.00\n")
    with pytest.raises(ValidationFailed) as info:
        _import(ctx, tenant_id, statement)
    assert info.value.errors == [{"field": "line 3", "message": (
        "line 3: fewer fields (2) than the header (4); it ends before the amount column")}]
