"""A settlement webhook for a payout whose report line loket kept unmatched (before it knew
the payment's gateway reference) settles the payment: its record takes the line's over."""

from sqlalchemy import select
from support.engine import connect_sandbox, deliver, payer, reload, start, store

from loket.core.gateway_configs import configs
from loket.core.models import Payment, SettlementRecord, Todo
from loket.core.reconciliation import settlements
from loket.gateways import sandbox_page, sandbox_store
from loket.money import Money
from loket.types import SettlementLine


def test_a_settlement_webhook_takes_over_the_line_a_report_kept_unmatched(ctx, tenant_id):
    connect_sandbox(ctx, tenant_id)
    payment = start(ctx, tenant_id, [("bill", "INV-2025-001234")])  # 145.50
    deliver(ctx, payer(ctx, payment, "pay"))
    reference = reload(ctx, payment).gateway_reference
    [webhook] = sandbox_page.settle(store(ctx))  # paid out; its webhook comes late
    payout = sandbox_store.find(store(ctx), reference)["payout_reference"]
    with ctx.transaction() as session:  # the report came before loket knew the reference
        session.get(Payment, payment.id).gateway_reference = None
        row = configs.get_row(session, tenant_id, "sandbox")
        kept = settlements.apply_lines(ctx, session, row, [SettlementLine(
            gateway_reference=reference, amount=Money(14550, "USD"), fee=Money(452, "USD"),
            net=Money(14098, "USD"), settled_at=ctx.now(), payout_reference=payout)])
    assert kept.unmatched == (reference,)
    with ctx.transaction() as session:
        session.get(Payment, payment.id).gateway_reference = reference

    assert deliver(ctx, webhook).status == 200

    settled = reload(ctx, payment)
    assert settled.status == "completed" and settled.payout_reference == payout
    with ctx.transaction() as session:
        records = session.execute(select(
            SettlementRecord.payment_id, SettlementRecord.matched, SettlementRecord.amount,
            SettlementRecord.net).where(SettlementRecord.gateway_reference == reference)).all()
        todo = session.scalar(select(Todo).where(Todo.kind == "reconciliation.unmatched"))
    assert [tuple(r) for r in records] == [(payment.id, True, 14550, settled.settled_net)]
    assert (todo.status, todo.resolution) == (
        "resolved", f"settled: the line now matches payment {payment.number}")
