"""A settlement line whose reference is longer than loket keeps is refused, naming the line,
before any money moves: on an upload within the request and on a run of the worker."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from sqlalchemy import func, select
from support.engine import ACTOR, connect_sandbox, deliver, payer, reload, start, store

from loket.core.models import ReconciliationRun, SettlementRecord, Todo
from loket.core.reconciliation import runs, settlements
from loket.core.states import RunKind, RunState
from loket.errors import ValidationFailed
from loket.gateways import sandbox_page, sandbox_report

LONG = {"reference": ("R" * 201, "po_1", "line 2.gateway_reference"),
        "payout": ("sbx_cs_unknown", "P" * 101, "line 2.payout_reference")}


@pytest.fixture
def report(ctx, tenant_id):
    """A sandbox report of one paid, paid-out payment (whose webhook was lost), and a
    function adding it a line of ``reference`` and ``payout``; with the payment."""
    config = connect_sandbox(ctx, tenant_id)
    payment = start(ctx, tenant_id, [("bill", "INV-2025-001234")])
    deliver(ctx, payer(ctx, payment, "pay"))
    sandbox_page.settle(store(ctx))
    now = dt.datetime.now(dt.UTC)
    text = sandbox_report.write_report(store(ctx), config.id, now - dt.timedelta(days=1),
                                       now + dt.timedelta(days=1))

    def with_line(reference: str, payout: str) -> bytes:
        return (text + f"{reference},,USD,10.00,0.30,9.70,{now.isoformat()},{payout}\n"
                ).encode()
    return with_line, payment


def _nothing_written(ctx, tenant_id: int, payment) -> None:
    assert reload(ctx, payment).status == "succeeded"  # the first line settled nothing
    with ctx.transaction() as session:
        assert session.scalar(select(func.count()).select_from(SettlementRecord).where(
            SettlementRecord.tenant_id == tenant_id)) == 0
        assert session.scalar(select(func.count()).select_from(Todo).where(
            Todo.kind == "reconciliation.unmatched")) == 0


@pytest.mark.parametrize("which", list(LONG))
def test_an_uploaded_report_with_an_overlong_reference_is_refused_naming_the_line(
        ctx, tenant_id, report, which):
    with_line, payment = report
    reference, payout, field = LONG[which]
    with pytest.raises(ValidationFailed) as refused, ctx.transaction() as session:
        settlements.import_report(ctx, session, tenant_id, "sandbox",
                                  with_line(reference, payout), "report.csv")
    assert [e["field"] for e in refused.value.errors] == [field]
    assert refused.value.detail.startswith("settlement line 2: its ")
    assert "characters long; loket keeps at most" in refused.value.detail
    _nothing_written(ctx, tenant_id, payment)


@pytest.mark.parametrize("which", list(LONG))
def test_a_run_with_an_overlong_reference_fails_at_once_naming_the_line(ctx, tenant_id,
                                                                        report, which):
    with_line, payment = report
    reference, payout, _ = LONG[which]
    with ctx.transaction() as session:
        run_id = runs.store_upload(ctx, session, ACTOR, tenant_id, RunKind.SETTLEMENT_REPORT,
                                   "sandbox", "report.csv",
                                   io.BytesIO(with_line(reference, payout))).id
    assert runs.process(ctx, run_id) == RunState.FAILED  # not tried again: the file is wrong
    with ctx.transaction() as session:
        run = session.get(ReconciliationRun, run_id)
        assert run.attempts == 1 and run.error.startswith("settlement line 2: its ")
    _nothing_written(ctx, tenant_id, payment)
