"""A settlement line kept unmatched never stands in the way of its payment: when the payment
can be matched later (its gateway reference learned since, a corrected line after one for
another amount), the line's record becomes the matched one and its to-do is resolved. Two
uploads of the same report at once keep its unmatched lines once."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select, text
from support.engine import connect_sandbox, deliver, payer, reload, seed, start

from loket.core.gateway_configs import configs
from loket.core.models import AuditEntry, OutboxEvent, Payment, SettlementRecord, Todo
from loket.core.reconciliation import settlements
from loket.money import Money
from loket.types import SettlementLine


def _line(ctx, reference: str, amount: int, payout: str | None = "po_1",
          number: str | None = None) -> SettlementLine:
    return SettlementLine(gateway_reference=reference, amount=Money(amount, "USD"),
                          fee=Money(30, "USD"), net=Money(amount - 30, "USD"),
                          settled_at=ctx.now(), payout_reference=payout, payment_id=number)


def _apply(ctx, tenant_id: int, lines: list[SettlementLine]) -> settlements.ReconciliationResult:
    with ctx.transaction() as session:
        row = configs.get_row(session, tenant_id, "sandbox")
        return settlements.apply_lines(ctx, session, row, lines)


def _paid(ctx, tenant_id: int) -> Payment:
    connect_sandbox(ctx, tenant_id)
    payment = start(ctx, tenant_id, [("bill", "INV-2025-001234")])  # 145.50
    deliver(ctx, payer(ctx, payment, "pay"))
    return reload(ctx, payment)


def _kept(ctx, tenant_id: int) -> tuple[list[tuple], list[tuple]]:
    """The tenant's settlement records of the payment's reference and its to-dos (but the
    connection test's)."""
    with ctx.transaction() as session:
        records = [(r.gateway_reference, r.payout_reference, r.payment_id, r.matched, r.amount,
                    r.fee, r.net) for r in session.scalars(select(SettlementRecord).where(
                        SettlementRecord.tenant_id == tenant_id,
                        SettlementRecord.payout_reference == "po_1"))]
        todos = [(t.kind, t.status, t.resolution, t.resolved_by) for t in session.scalars(
            select(Todo).where(Todo.tenant_id == tenant_id).order_by(Todo.id))]
    return records, todos


def test_a_line_kept_unmatched_settles_its_payment_once_its_reference_is_known(ctx,
                                                                               tenant_id):
    payment = _paid(ctx, tenant_id)
    reference = payment.gateway_reference
    with ctx.transaction() as session:  # the gateway's reference comes with a later event
        session.get(Payment, payment.id).gateway_reference = None
    first = _apply(ctx, tenant_id, [_line(ctx, reference, 14550)])
    assert (first.matched, first.unmatched) == (0, (reference,))
    with ctx.transaction() as session:
        session.get(Payment, payment.id).gateway_reference = reference

    again = _apply(ctx, tenant_id, [_line(ctx, reference, 14550)])  # the report uploaded again

    assert (again.matched, again.already_settled, again.unmatched) == (1, 0, ())
    assert reload(ctx, payment).status == "completed"
    records, todos = _kept(ctx, tenant_id)
    assert records == [(reference, "po_1", payment.id, True, 14550, 30, 14520)]
    assert todos == [("reconciliation.unmatched", "resolved",
                      f"settled: the line now matches payment {payment.number}", "system")]
    with ctx.transaction() as session:
        audited = session.scalars(select(AuditEntry.action).where(
            AuditEntry.tenant_id == tenant_id, AuditEntry.entity_type == "todo")).all()
        summary = settlements.summary(session, tenant_id)
    assert audited == ["todo.resolved"]
    assert [s["matched"] for s in summary["settled"]] == [True]  # nothing left unmatched
    third = _apply(ctx, tenant_id, [_line(ctx, reference, 14550)])  # and again: a no-op
    assert (third.matched, third.already_settled) == (0, 1)


@pytest.mark.parametrize("together", [False, True], ids=["uploaded apart", "in one report"])
def test_a_corrected_line_takes_over_the_record_of_one_for_another_amount(ctx, tenant_id,
                                                                          together):
    payment = _paid(ctx, tenant_id)
    reference = payment.gateway_reference
    wrong, right = _line(ctx, reference, 14500), _line(ctx, reference, 14550)
    if together:  # the second line of a payment goes the one-at-a-time (event) way
        result = _apply(ctx, tenant_id, [wrong, right])
        assert (result.matched, result.unmatched) == (1, (reference,))
    else:
        assert _apply(ctx, tenant_id, [wrong]).unmatched == (reference,)
        assert _apply(ctx, tenant_id, [right]).matched == 1

    assert reload(ctx, payment).status == "completed"
    records, todos = _kept(ctx, tenant_id)
    assert records == [(reference, "po_1", payment.id, True, 14550, 30, 14520)]
    assert todos == [("settlement.amount_mismatch", "resolved",
                      f"settled: the line now matches payment {payment.number}", "system")]


def test_a_settled_payment_leaves_another_payouts_unmatched_line_alone(ctx, tenant_id):
    payment = _paid(ctx, tenant_id)
    reference = payment.gateway_reference
    _apply(ctx, tenant_id, [_line(ctx, reference, 100, payout="po_0")])  # another amount
    assert _apply(ctx, tenant_id, [_line(ctx, reference, 14550)]).matched == 1
    with ctx.transaction() as session:
        records = sorted((r.payout_reference, r.matched, r.amount) for r in session.scalars(
            select(SettlementRecord).where(SettlementRecord.gateway_reference == reference)))
        open_todos = session.scalars(select(Todo.kind).where(
            Todo.tenant_id == tenant_id, Todo.status == "open")).all()
    assert records == [("po_0", False, 100), ("po_1", True, 14550)]
    assert open_todos == ["settlement.amount_mismatch"]  # that payout's line is still wrong


def test_a_line_without_payout_kept_unmatched_is_taken_over_too(ctx, tenant_id):
    payment = _paid(ctx, tenant_id)
    reference = payment.gateway_reference
    with ctx.transaction() as session:
        session.get(Payment, payment.id).gateway_reference = None
    _apply(ctx, tenant_id, [_line(ctx, reference, 14550, payout=None)])
    with ctx.transaction() as session:
        session.get(Payment, payment.id).gateway_reference = reference
    assert _apply(ctx, tenant_id, [_line(ctx, reference, 14550, payout=None)]).matched == 1
    with ctx.transaction() as session:
        records = session.execute(select(SettlementRecord.payout_reference,
                                         SettlementRecord.payment_id).where(
            SettlementRecord.gateway_reference == reference)).all()
        todo = session.scalar(select(Todo).where(Todo.kind == "reconciliation.unmatched"))
    assert [tuple(r) for r in records] == [("", payment.id)]
    assert todo.status == "resolved"


def test_an_unmatched_line_with_a_long_reference_gets_a_todo_that_fits(ctx, tenant_id):
    connect_sandbox(ctx, tenant_id)
    reference, payout = "R" * 200, "P" * 100  # the longest a settlement record keeps
    result = _apply(ctx, tenant_id, [_line(ctx, reference, 999, payout=payout)])
    assert result.unmatched == (reference,)
    _apply(ctx, tenant_id, [_line(ctx, reference, 999, payout=payout)])  # uploaded again
    with ctx.transaction() as session:
        todos = session.scalars(select(Todo).where(
            Todo.kind == "reconciliation.unmatched")).all()
    assert len(todos) == 1  # raised once, however often the line comes
    todo = todos[0]
    assert len(todo.dedupe_key) <= 200 and todo.entity_id is None  # too long for the column
    assert reference in todo.title and len(todo.title) <= 300


def _reconcile_in_a_thread(ctx, tenant_id: int, lines: list[SettlementLine], outcome: dict
                           ) -> threading.Thread:
    def run():
        try:
            outcome["second"] = _apply(ctx, tenant_id, lines)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            outcome["second"] = exc
    return threading.Thread(target=run)


def _wait_until_blocked(ctx, thread: threading.Thread) -> None:
    """Until ``thread`` waits for a lock (or ends: it did not have to wait)."""
    deadline = time.monotonic() + 10
    with ctx.engine.connect() as watcher:
        while thread.is_alive() and not watcher.execute(_WAITING).scalar() and \
                time.monotonic() < deadline:
            time.sleep(0.02)


_WAITING = text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'")


@pytest.mark.postgres
def test_the_same_unmatched_lines_reconciled_twice_at_once_are_kept_once(pg_ctx):
    ctx = pg_ctx
    tenant_id = seed(ctx)
    connect_sandbox(ctx, tenant_id)
    lines = [_line(ctx, "ch_unknown_1", 999), _line(ctx, "ch_unknown_2", 500)]
    outcome: dict = {}
    thread = _reconcile_in_a_thread(ctx, tenant_id, lines, outcome)
    with ctx.transaction() as session:
        row = configs.get_row(session, tenant_id, "sandbox")
        first = settlements.apply_lines(ctx, session, row, lines)
        thread.start()  # the same report uploaded again while this one is still open
        _wait_until_blocked(ctx, thread)
    thread.join(30)

    assert first.unmatched == ("ch_unknown_1", "ch_unknown_2")
    second = outcome["second"]
    assert isinstance(second, settlements.ReconciliationResult), repr(second)[:300]
    assert second.unmatched == ("ch_unknown_1", "ch_unknown_2")
    with ctx.transaction() as session:
        records = session.scalars(select(SettlementRecord.gateway_reference).where(
            SettlementRecord.tenant_id == tenant_id).order_by(
                SettlementRecord.gateway_reference)).all()
        todos = session.scalars(select(Todo.entity_id).where(
            Todo.kind == "reconciliation.unmatched").order_by(Todo.entity_id)).all()
        raised = session.scalars(select(OutboxEvent.type).where(
            OutboxEvent.tenant_id == tenant_id, OutboxEvent.type == "todo.raised")).all()
    assert [r for r in records if r.startswith("ch_unknown")] == ["ch_unknown_1",
                                                                  "ch_unknown_2"]
    assert todos == ["ch_unknown_1", "ch_unknown_2"] and len(raised) == 2
