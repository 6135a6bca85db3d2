"""Reconciliation matches what the gateway settled with loket's payments."""

import datetime as dt

from sqlalchemy import select
from support.engine import connect_sandbox, deliver, payer, reload, start, store

from loket.core.gateway_configs import configs
from loket.core.models import SettlementRecord, Todo
from loket.core.reconciliation import settlements
from loket.gateways import sandbox_page
from loket.money import Money
from loket.types import SettlementLine


def test_fetched_settlements_complete_payments_once_and_unknown_lines_become_todos(
        ctx, tenant_id):
    connect_sandbox(ctx, tenant_id)
    first = start(ctx, tenant_id, [("bill", "INV-2025-001234")])
    second = start(ctx, tenant_id, [("service", "SRV-LATE-0001")])
    for payment in (first, second):
        deliver(ctx, payer(ctx, payment, "pay"))
    sandbox_page.settle(store(ctx))  # the payout happens; its webhooks are lost
    since = ctx.now() - dt.timedelta(hours=1)
    until = ctx.now() + dt.timedelta(hours=1)

    with ctx.transaction() as session:
        result = settlements.fetch_and_reconcile(ctx, session, tenant_id, "sandbox", since,
                                                    until)
    assert (result.matched, result.already_settled, result.unmatched) == (2, 0, ())
    done = reload(ctx, first)
    assert done.status == "completed" and done.receipt_number
    assert done.settled_fee == (14550 * 29 + 500) // 1000 + 30

    with ctx.transaction() as session:
        again = settlements.fetch_and_reconcile(ctx, session, tenant_id, "sandbox", since,
                                                   until)
        assert (again.matched, again.already_settled) == (0, 2)
        row = configs.get_row(session, tenant_id, "sandbox")
        stray = SettlementLine(gateway_reference="sbx_cs_unknown", amount=Money(999, "USD"),
                               fee=Money(30, "USD"), net=Money(969, "USD"),
                               settled_at=ctx.now(), payout_reference="po_x")
        result = settlements.apply_lines(ctx, session, row, [stray, stray])
    assert result.unmatched == ("sbx_cs_unknown", "sbx_cs_unknown")
    with ctx.transaction() as session:
        todos = session.scalars(select(Todo).where(Todo.kind == "reconciliation.unmatched")).all()
        records = session.scalars(select(SettlementRecord).where(
            SettlementRecord.matched.is_(False))).all()
        summary = settlements.summary(session, tenant_id)
    assert len(todos) == 1 and len(records) == 1
    matched = [s for s in summary["settled"] if s["matched"]][0]
    assert (matched["count"], matched["amount"]) == (2, 14550 + 2500)
    assert summary["awaiting_settlement"] == []
