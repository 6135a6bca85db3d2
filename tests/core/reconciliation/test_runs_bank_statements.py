"""A bank statement read by the worker as a run: a block of lines per transaction, each
committing with the run's counts and a heartbeat, and a run that starts again after the last
committed block confirms no payout twice and imports no line twice."""

import io

import pytest
from sqlalchemy import event, func, select, update
from support.engine import ACTOR, connect_sandbox, deliver, payer, start, store

from loket.core.db import after_commit
from loket.core.models import BankStatementLine, ReconciliationRun, SettlementRecord, Todo
from loket.core.reconciliation import bank, runs
from loket.core.states import RunKind, RunState
from loket.gateways import sandbox_page


class Killed(BaseException):
    """The process dying right after a commit (not an ``Exception``: nothing catches it)."""


class Blocks:
    """Sees each block of a run commit, with the run's counts and heartbeat as the block
    wrote them; ``after`` is called right after the n-th block's commit (``after[n]``)."""

    def __init__(self, ctx, request, after: dict | None = None):
        self.seen: list[dict] = []
        self.after = after or {}
        event.listen(ctx.sessions, "before_commit", self._committing)
        request.addfinalizer(lambda: event.remove(ctx.sessions, "before_commit",
                                                  self._committing))

    def _committing(self, session) -> None:
        for row in list(session.dirty):
            if isinstance(row, ReconciliationRun) and row.state == RunState.RUNNING:
                self.seen.append({"committed_lines": row.committed_lines, "lines": row.lines,
                                  "matched": row.matched, "unmatched": row.unmatched,
                                  "heartbeat_at": row.heartbeat_at})
                if len(self.seen) in self.after:
                    after_commit(session, self.after[len(self.seen)])


def _die() -> None:
    raise Killed


def _pay_out(ctx, tenant_id, item) -> tuple[str, int]:
    """Pay ``item`` through the sandbox and pay it out alone; returns (payout, net)."""
    payment = start(ctx, tenant_id, [item])
    deliver(ctx, payer(ctx, payment, "pay"))
    for hook in sandbox_page.settle(store(ctx)):
        deliver(ctx, hook)
    with ctx.transaction() as session:
        record = session.scalar(select(SettlementRecord).where(
            SettlementRecord.payment_id == payment.id))
        return record.payout_reference, record.net


def _money(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


@pytest.fixture
def statement(ctx, tenant_id) -> tuple[bytes, list[str]]:
    """A statement of five credits: three payouts awaiting the bank (two named, the last
    only by its amount) and two credits that match none; and the three payouts."""
    connect_sandbox(ctx, tenant_id)
    paid = [_pay_out(ctx, tenant_id, item) for item in (
        ("bill", "INV-2025-001234"), ("bill", "INV-2025-001567"), ("service", "SRV-LATE-0001"))]
    today = ctx.now().date().isoformat()
    (first, first_net), (second, second_net), (_third, third_net) = paid
    text = ("\ufeffdate,reference,amount,description\n"
            f"{today},TRF 01,{_money(first_net)},PAYOUT {first.upper()}\n"
            f"{today},TRF 02,12.34,unknown credit\n"
            f"{today},FEE,-5.00,bank charges\n"  # a debit: not a line of the run
            f"{today},TRF 03,{_money(second_net)},PAYOUT {second}\n"
            f"{today},TRF 04,56.78,another unknown credit\n"
            f"{today},TRF 05,{_money(third_net)},SANDBOX\n")
    return text.encode(), [reference for reference, _ in paid]


def _upload(ctx, tenant_id, content: bytes) -> int:
    with ctx.transaction() as session:
        return runs.store_upload(ctx, session, ACTOR, tenant_id, RunKind.BANK_STATEMENT,
                                 None, "statement.csv", io.BytesIO(content)).id


def _run(ctx, run_id) -> dict:
    with ctx.transaction() as session:
        return runs.to_json(session.get(ReconciliationRun, run_id))


def _imported(ctx, tenant_id) -> dict:
    """What the statement left: its lines, the payouts they confirmed, their to-dos."""
    with ctx.transaction() as session:
        lines = session.scalar(select(func.count()).select_from(BankStatementLine).where(
            BankStatementLine.tenant_id == tenant_id))
        confirmed = session.execute(select(
            SettlementRecord.payout_reference, SettlementRecord.bank_line_id).where(
            SettlementRecord.bank_line_id.is_not(None))).all()
        todos = session.scalars(select(Todo.kind).where(Todo.tenant_id == tenant_id,
                                                        Todo.kind.like("bank.%"))).all()
        return {"lines": lines, "confirmed": sorted(r for r, _ in confirmed),
                "bank_lines": len({line for _, line in confirmed}), "todos": sorted(todos)}


def test_a_statement_commits_a_block_at_a_time_with_its_heartbeat(ctx, tenant_id, statement,
                                                                  monkeypatch, request):
    monkeypatch.setattr(bank, "BLOCK", 2)
    content, payouts = statement
    run_id = _upload(ctx, tenant_id, content)
    progress: list[dict] = []
    blocks = Blocks(ctx, request, after={1: lambda: progress.append(_run(ctx, run_id))})
    assert runs.process(ctx, run_id) == RunState.DONE
    assert [(b["committed_lines"], b["matched"], b["unmatched"]) for b in blocks.seen] == [
        (2, 1, 1), (4, 2, 2), (5, 3, 2)]
    beats = [b["heartbeat_at"] for b in blocks.seen]
    assert beats == sorted(beats) and len(set(beats)) == 3  # each block moved it on
    # While the run went on, its first block's counts were there for anyone to see.
    assert [(p["state"], p["lines"], p["matched"], p["unmatched"]) for p in progress] == [
        ("running", 2, 1, 1)]
    answer = _run(ctx, run_id)
    assert (answer["state"], answer["lines"], answer["matched"], answer["unmatched"],
            answer["already_settled"]) == ("done", 5, 3, 2, 0)
    assert answer["unmatched_sample"] == ["TRF 02", "TRF 04"]
    assert _imported(ctx, tenant_id) == {
        "lines": 5, "confirmed": sorted(payouts), "bank_lines": 3,
        "todos": ["bank.unmatched", "bank.unmatched"]}


def test_a_statement_killed_after_a_block_starts_again_after_it(ctx, tenant_id, statement,
                                                                monkeypatch, request):
    monkeypatch.setattr(bank, "BLOCK", 2)
    content, payouts = statement
    run_id = _upload(ctx, tenant_id, content)
    blocks = Blocks(ctx, request, after={1: _die})
    with pytest.raises(Killed):
        runs.process(ctx, run_id)
    answer = _run(ctx, run_id)
    assert (answer["state"], answer["lines"], answer["matched"], answer["unmatched"]) == (
        "running", 2, 1, 1)
    assert _imported(ctx, tenant_id)["confirmed"] == [payouts[0]]  # the first block stayed
    with ctx.transaction() as session:  # its heartbeat grows old
        session.execute(update(ReconciliationRun).where(ReconciliationRun.id == run_id).values(
            heartbeat_at=ctx.now() - runs.STALE_AFTER - runs.QUEUED_AFTER))
    assert runs.process(ctx, run_id) == RunState.DONE
    answer = _run(ctx, run_id)
    # The second attempt read only the three lines left: none counts as already imported.
    assert (answer["lines"], answer["matched"], answer["unmatched"], answer["already_settled"],
            answer["attempts"]) == (5, 3, 2, 0, 2)
    assert answer["unmatched_sample"] == ["TRF 02", "TRF 04"]
    assert [b["committed_lines"] for b in blocks.seen] == [2, 4, 5]
    # Each payout confirmed once, by a line of its own; each line and to-do made once.
    assert _imported(ctx, tenant_id) == {
        "lines": 5, "confirmed": sorted(payouts), "bank_lines": 3,
        "todos": ["bank.unmatched", "bank.unmatched"]}


def test_a_block_of_a_statement_taken_over_meanwhile_is_rolled_back(ctx, tenant_id,
                                                                    statement, monkeypatch,
                                                                    request):
    monkeypatch.setattr(bank, "BLOCK", 2)
    content, payouts = statement
    run_id = _upload(ctx, tenant_id, content)

    def another_process_claims_it() -> None:
        with ctx.transaction() as session:
            session.get(ReconciliationRun, run_id).attempts += 1

    Blocks(ctx, request, after={1: another_process_claims_it})
    assert runs.process(ctx, run_id) == RunState.RUNNING  # left to the newer attempt
    answer = _run(ctx, run_id)
    assert (answer["lines"], answer["attempts"], answer["finished_at"]) == (2, 2, None)
    assert _imported(ctx, tenant_id)["lines"] == 2
    assert _imported(ctx, tenant_id)["confirmed"] == [payouts[0]]


def test_a_wrong_line_fails_the_statement_before_any_block(ctx, tenant_id, statement,
                                                           monkeypatch):
    monkeypatch.setattr(bank, "BLOCK", 2)
    content, _payouts = statement
    run_id = _upload(ctx, tenant_id, content + b"31/12/2025,TRF 06,1.00,\n")
    assert runs.process(ctx, run_id) == RunState.FAILED
    assert _run(ctx, run_id)["error"] == "line 8: date must look like 2025-03-31"
    assert _imported(ctx, tenant_id)["lines"] == 0


def test_an_amount_with_a_comma_not_in_quotes_fails_the_run_at_once_naming_its_line(
        ctx, tenant_id, statement):
    content, _payouts = statement
    run_id = _upload(ctx, tenant_id, content + b"2025-12-31,TRF 06,1,500.00,\n")
    assert runs.process(ctx, run_id) == RunState.FAILED
    answer = _run(ctx, run_id)
    assert answer["attempts"] == 1  # the file is wrong: reading it again changes nothing
    assert answer["error"] == ('line 8: more fields (5) than the header (4); put an amount or '
                               'text that contains a comma in quotes, as "1,500.00"')
    assert _imported(ctx, tenant_id)["lines"] == 0


def test_a_statement_that_is_not_utf8_fails_with_a_sentence(ctx, tenant_id):
    run_id = _upload(ctx, tenant_id, "date,reference,amount\n2025-03-31,Überweisung,1.00\n"
                     .encode("latin-1"))
    assert runs.process(ctx, run_id) == RunState.FAILED
    assert _run(ctx, run_id)["error"] == "the statement is not UTF-8 text"
