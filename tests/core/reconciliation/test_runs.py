"""Reconciliation files handed to the worker: stored as they stream in, read once, started
again when their process or task was lost, and never finished twice."""

import datetime as dt
import io

import attrs
import pytest
from sqlalchemy import select
from support.engine import ACTOR, connect_sandbox, deliver, payer, start, store

from loket import hookimpl
from loket.core.models import Payment, ReconciliationRun
from loket.core.reconciliation import runs, settling
from loket.core.states import RunKind, RunState
from loket.errors import TooLarge
from loket.gateways import sandbox_page, sandbox_report


@pytest.fixture
def report(ctx, tenant_id) -> bytes:
    """A sandbox report of one paid, paid-out checkout whose settlement webhook was lost."""
    config = connect_sandbox(ctx, tenant_id)
    payment = start(ctx, tenant_id, [("bill", "INV-2025-001234")])
    deliver(ctx, payer(ctx, payment, "pay"))
    sandbox_page.settle(store(ctx))  # its webhooks never arrive
    now = dt.datetime.now(dt.UTC)
    return sandbox_report.write_report(store(ctx), config.id, now - dt.timedelta(days=1),
                                       now + dt.timedelta(days=1)).encode()


def _upload(ctx, tenant_id, content: bytes, filename="report.csv") -> int:
    with ctx.transaction() as session:
        return runs.store_upload(ctx, session, ACTOR, tenant_id, RunKind.SETTLEMENT_REPORT,
                                 "sandbox", filename, io.BytesIO(content)).id


def _run(ctx, run_id) -> ReconciliationRun:
    with ctx.transaction() as session:
        row = session.get(ReconciliationRun, run_id)
        session.expunge(row)
        return row


def _completed(ctx, tenant_id) -> int:
    with ctx.transaction() as session:
        return len(session.scalars(select(Payment).where(
            Payment.tenant_id == tenant_id, Payment.status == "completed")).all())


def test_a_run_is_read_once_and_its_file_removed(ctx, tenant_id, report):
    run_id = _upload(ctx, tenant_id, report)
    stored = runs.folder(ctx) / _run(ctx, run_id).stored_as
    assert stored.read_bytes() == report
    assert runs.process(ctx, run_id) == RunState.DONE
    assert _completed(ctx, tenant_id) == 1 and not stored.exists()
    row = _run(ctx, run_id)
    assert (row.lines, row.matched, row.attempts) == (1, 1, 1) and row.finished_at
    assert runs.process(ctx, run_id) == RunState.DONE  # a second task changes nothing
    assert _run(ctx, run_id).attempts == 1


def test_a_run_whose_process_died_is_started_again_by_the_sweep(ctx, tenant_id, report,
                                                                  monkeypatch):
    run_id = _upload(ctx, tenant_id, report)
    kicked: list[int] = []
    monkeypatch.setattr(ctx, "run_kick", kicked.append)
    assert runs.resume_stale(ctx) == []  # just uploaded: its task is on the way
    with ctx.transaction() as session:  # a worker took it, then was killed
        row = session.get(ReconciliationRun, run_id)
        row.state, row.attempts = RunState.RUNNING, 1
        row.heartbeat_at = ctx.now() - runs.STALE_AFTER - dt.timedelta(minutes=1)
    assert runs.resume_stale(ctx) == [run_id] and kicked == [run_id]
    assert runs.process(ctx, run_id) == RunState.DONE
    assert _run(ctx, run_id).attempts == 2 and _completed(ctx, tenant_id) == 1


def test_a_run_whose_process_died_at_each_attempt_fails_after_the_last(ctx, tenant_id,
                                                                       report):
    """A file that kills its reader (out of memory) is not read again and again."""
    run_id = _upload(ctx, tenant_id, report)
    with ctx.transaction() as session:  # the last attempt's worker was killed too
        row = session.get(ReconciliationRun, run_id)
        row.state, row.attempts = RunState.RUNNING, runs.MAX_ATTEMPTS
        row.heartbeat_at = ctx.now() - runs.STALE_AFTER - dt.timedelta(minutes=1)
    assert runs.process(ctx, run_id) == RunState.FAILED
    row = _run(ctx, run_id)
    assert row.attempts == runs.MAX_ATTEMPTS and row.finished_at
    assert f"stopped after {runs.MAX_ATTEMPTS} attempts" in row.error
    assert _completed(ctx, tenant_id) == 0
    assert runs.resume_stale(ctx) == []


def test_a_run_another_process_holds_is_left_alone(ctx, tenant_id, report):
    run_id = _upload(ctx, tenant_id, report)
    with ctx.transaction() as session:
        row = session.get(ReconciliationRun, run_id)
        row.state, row.attempts, row.heartbeat_at = RunState.RUNNING, 1, ctx.now()
    assert runs.process(ctx, run_id) == RunState.RUNNING
    assert _completed(ctx, tenant_id) == 0


def test_a_lost_file_fails_with_a_sentence(ctx, tenant_id, report):
    run_id = _upload(ctx, tenant_id, report)
    (runs.folder(ctx) / _run(ctx, run_id).stored_as).unlink()
    assert runs.process(ctx, run_id) == RunState.FAILED
    assert "upload it again" in _run(ctx, run_id).error


def test_an_oversized_upload_keeps_nothing(ctx, tenant_id, report):
    ctx.config = attrs.evolve(ctx.config, max_upload_bytes=len(report) - 1)
    with pytest.raises(TooLarge), ctx.transaction() as session:
        runs.store_upload(ctx, session, ACTOR, tenant_id, RunKind.SETTLEMENT_REPORT,
                          "sandbox", "report.csv", io.BytesIO(report))
    assert list(runs.folder(ctx).iterdir()) == []


class Killed(BaseException):
    """The process dying right after a commit (not an ``Exception``: nothing catches it)."""


class DiesAfterFirstBlock:
    """A plugin that hears of the first block's changes, then kills the process or lets
    another attempt take the run over."""

    def __init__(self, ctx, run_id: int, how: str):
        self.ctx, self.run_id, self.how, self.heard = ctx, run_id, how, []

    @hookimpl
    def loket_payment_status_changed(self, payment, old_status, new_status):
        self.heard.append(payment.payment_id)
        if len(self.heard) > 1:
            return
        if self.how == "kill":
            raise Killed
        with self.ctx.transaction() as session:  # another process claims the run
            session.get(ReconciliationRun, self.run_id).attempts += 1


def _registered(ctx, plugin, request):
    """``plugin`` registered until the test ends (the plugins outlive it)."""
    ctx.plugins.register(plugin, name="dies-after-first-block")
    request.addfinalizer(lambda: ctx.plugins.pm.unregister(plugin))
    return plugin


@pytest.fixture
def three_lines(ctx, tenant_id) -> bytes:
    """A sandbox report of three paid, paid-out checkouts whose settlement webhooks were
    lost."""
    config = connect_sandbox(ctx, tenant_id)
    for item in (("bill", "INV-2025-001234"), ("bill", "INV-2025-001567"),
                 ("service", "SRV-RECON-0001")):
        deliver(ctx, payer(ctx, start(ctx, tenant_id, [item]), "pay"))
    sandbox_page.settle(store(ctx))
    now = dt.datetime.now(dt.UTC)
    return sandbox_report.write_report(store(ctx), config.id, now - dt.timedelta(days=1),
                                       now + dt.timedelta(days=1)).encode()


def test_a_run_killed_after_a_block_starts_again_after_it(ctx, tenant_id, three_lines,
                                                         monkeypatch, request):
    monkeypatch.setattr(settling, "BLOCK", 1)
    run_id = _upload(ctx, tenant_id, three_lines)
    dying = _registered(ctx, DiesAfterFirstBlock(ctx, run_id, "kill"), request)
    with pytest.raises(Killed):
        runs.process(ctx, run_id)
    row = _run(ctx, run_id)
    assert (row.state, row.lines, row.committed_lines, row.matched) == ("running", 1, 1, 1)
    assert _completed(ctx, tenant_id) == 1  # the first block stayed
    with ctx.transaction() as session:  # its heartbeat grows old
        session.get(ReconciliationRun, run_id).heartbeat_at = ctx.now() - dt.timedelta(days=1)
    assert runs.process(ctx, run_id) == RunState.DONE
    row = _run(ctx, run_id)
    # The second attempt read only the two lines left: none counts as already settled.
    assert (row.lines, row.matched, row.already_settled, row.attempts) == (3, 3, 0, 2)
    assert _completed(ctx, tenant_id) == 3
    assert len(dying.heard) == len(set(dying.heard)) == 3  # each change told once


def test_a_block_of_a_run_taken_over_meanwhile_is_rolled_back(ctx, tenant_id, three_lines,
                                                              monkeypatch, request):
    monkeypatch.setattr(settling, "BLOCK", 1)
    run_id = _upload(ctx, tenant_id, three_lines)
    _registered(ctx, DiesAfterFirstBlock(ctx, run_id, "take over"), request)
    assert runs.process(ctx, run_id) == RunState.RUNNING  # left to the newer attempt
    row = _run(ctx, run_id)
    assert (row.lines, row.committed_lines, row.attempts, row.finished_at) == (1, 1, 2, None)
    assert _completed(ctx, tenant_id) == 1
    assert (runs.folder(ctx) / row.stored_as).exists()  # the newer attempt reads it


def test_a_run_silent_for_ten_minutes_is_started_again_whatever_its_kind(ctx, tenant_id,
                                                                         report, monkeypatch):
    kicked: list[int] = []
    monkeypatch.setattr(ctx, "run_kick", kicked.append)
    report_id = _upload(ctx, tenant_id, report)
    with ctx.transaction() as session:
        statement_id = runs.store_upload(ctx, session, ACTOR, tenant_id,
                                         RunKind.BANK_STATEMENT, None, "statement.csv",
                                         io.BytesIO(b"date,reference,amount\n")).id
        for run_id in (report_id, statement_id):  # both lost their process 11 minutes ago
            row = session.get(ReconciliationRun, run_id)
            row.state, row.attempts = RunState.RUNNING, 1
            row.heartbeat_at = ctx.now() - runs.STALE_AFTER - dt.timedelta(minutes=1)
    # A settlement report and a bank statement both beat after every block, on any database.
    assert runs.resume_stale(ctx) == [report_id, statement_id]
