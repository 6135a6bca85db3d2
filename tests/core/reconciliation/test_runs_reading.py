"""A run's first reading of its file (the check before any block) beats like its blocks do,
so the sweep never takes a long reading for a dead process; a run that fails on something
not in the file shows an internal error, the detail only in the worker's log."""

from __future__ import annotations

import datetime as dt
import io
import logging

import pytest
from sqlalchemy.exc import IntegrityError
from support.engine import ACTOR, connect_sandbox

from loket.core.models import ReconciliationRun
from loket.core.reconciliation import bank, runs, settling
from loket.core.states import RunKind, RunState
from loket.gateways import sandbox_report

LINES = 7
FILES = {
    RunKind.SETTLEMENT_REPORT: ("sandbox", sandbox_report, "parse_report", (
        ",".join(sandbox_report.COLUMNS) + "\n" + "".join(
            f"sbx_cs_unknown_{i},,USD,10.00,0.30,9.70,2025-03-31T00:00:00+00:00,po_1\n"
            for i in range(LINES)))),
    RunKind.BANK_STATEMENT: (None, bank, "read_statement", "date,reference,amount\n" + "".join(
        f"2025-03-31,TRF {i},1.00\n" for i in range(LINES))),
}


def _upload(ctx, tenant_id: int, kind: RunKind) -> int:
    gateway, _, _, content = FILES[kind]
    with ctx.transaction() as session:
        return runs.store_upload(ctx, session, ACTOR, tenant_id, kind, gateway, "file.csv",
                                 io.BytesIO(content.encode())).id


def _during_first_reading(monkeypatch, kind: RunKind, at_line: dict) -> None:
    """Call ``at_line[n]()`` when the first reading of the file reaches its line ``n`` (the
    reader the run uses, left as it is otherwise)."""
    _, module, name, _ = FILES[kind]
    real, readings = getattr(module, name), []

    def reader(*args):
        readings.append(True)
        first = len(readings) == 1
        for number, line in enumerate(real(*args), start=1):
            if first and number in at_line:
                at_line[number]()
            yield line
    monkeypatch.setattr(module, name, reader)


@pytest.mark.parametrize("kind", list(FILES))
def test_a_run_reading_its_file_through_for_long_is_not_taken_for_dead(ctx, tenant_id, kind,
                                                                       monkeypatch):
    connect_sandbox(ctx, tenant_id)
    monkeypatch.setattr(settling, "BLOCK", 2)  # looks at the time every two lines
    run_id = _upload(ctx, tenant_id, kind)
    kicked, swept = [], []
    monkeypatch.setattr(ctx, "run_kick", kicked.append)
    real_clock, late = ctx.clock, [dt.timedelta(0)]
    monkeypatch.setattr(ctx, "clock", lambda: real_clock() + late[0])

    def slow() -> None:  # the reading has taken 11 minutes by now
        late[0] = runs.STALE_AFTER + dt.timedelta(minutes=1)

    _during_first_reading(monkeypatch, kind, {
        1: slow, 5: lambda: swept.extend(runs.resume_stale(ctx))})
    assert runs.process(ctx, run_id) == RunState.DONE
    assert swept == [] and kicked == []  # the sweep saw it alive
    with ctx.transaction() as session:
        run = session.get(ReconciliationRun, run_id)
        assert (run.attempts, run.lines) == (1, LINES)


def test_a_run_taken_over_while_reading_its_file_through_stops_before_any_block(
        ctx, tenant_id, monkeypatch):
    connect_sandbox(ctx, tenant_id)
    monkeypatch.setattr(settling, "BLOCK", 2)
    run_id = _upload(ctx, tenant_id, RunKind.SETTLEMENT_REPORT)
    real_clock, late = ctx.clock, [dt.timedelta(0)]
    monkeypatch.setattr(ctx, "clock", lambda: real_clock() + late[0])

    def taken_over() -> None:  # the sweep gave this slow reading's run to another process
        late[0] = runs.STALE_AFTER + dt.timedelta(minutes=1)
        with ctx.transaction() as session:
            session.get(ReconciliationRun, run_id).attempts += 1

    _during_first_reading(monkeypatch, RunKind.SETTLEMENT_REPORT, {1: taken_over})
    assert runs.process(ctx, run_id) == RunState.RUNNING  # left to the other attempt
    with ctx.transaction() as session:
        run = session.get(ReconciliationRun, run_id)
        assert (run.attempts, run.lines, run.committed_lines) == (2, 0, 0)


def test_a_run_failing_on_the_database_shows_no_statement(ctx, tenant_id, monkeypatch,
                                                           caplog):
    connect_sandbox(ctx, tenant_id)
    run_id = _upload(ctx, tenant_id, RunKind.SETTLEMENT_REPORT)

    def database_error(*args, **kwargs):
        raise IntegrityError("INSERT INTO settlements (gateway_reference) VALUES (%(r)s)",
                             {"r": "sbx_cs_unknown_0"}, Exception("duplicate key value"))
    monkeypatch.setattr(settling, "settle_committing", database_error)
    with caplog.at_level(logging.ERROR, logger=runs.__name__):
        assert runs.process(ctx, run_id) == RunState.QUEUED  # the sweep tries it again
    with ctx.transaction() as session:
        error = session.get(ReconciliationRun, run_id).error
    assert error == (f"internal error in attempt 1; see the worker's log for reconciliation "
                     f"run {run_id}")
    assert "INSERT INTO settlements" in caplog.text  # the detail is the operator's
