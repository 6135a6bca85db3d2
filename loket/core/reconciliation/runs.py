"""Reconciliation files of any size: stored as they stream in, then read by the worker a
block of lines at a time, with progress anyone can follow.

1. :func:`store_upload` (:mod:`loket.core.reconciliation.uploads`, whose functions are
   imported from here too) copies the file to disk and records a run, ``queued``.
2. After the commit the run is handed to the job queue (``ctx.run_kick``), or, without a
   queue, to a thread of this process; :func:`process` claims it (``running``) and reads
   the file a block of lines at a time, each block committing with the run's counts so far
   and a heartbeat: a settlement report through :func:`settling.settle_committing`, a bank
   statement through :func:`bank.import_committing`.
3. It ends ``done`` (the file deleted) or ``failed`` with the reason (the file kept). A run
   whose process died (no heartbeat for :data:`STALE_AFTER`) or whose task was lost is
   started again by :func:`resume_stale` (the worker's sweep), at most :data:`MAX_ATTEMPTS`
   times. It starts again after the last block that committed, counting on from there. A
   line the parser rejects fails the run before any block (the file is read through once
   first, with a heartbeat every minute); a run that failed while reading keeps the blocks
   it committed (uploaded again, their lines count as ``already_settled``). A failure that
   is not the file's is shown as an internal error; its detail goes to the worker's log.

The API, the worker and the sweep must share the var directory (one machine, or a shared
volume).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.models import ReconciliationRun
from loket.core.reconciliation import bank, settlements, settling
from loket.core.reconciliation.uploads import check_target as check_target
from loket.core.reconciliation.uploads import folder as folder
from loket.core.reconciliation.uploads import store_upload as store_upload
from loket.core.settings import load_settings
from loket.core.states import RunKind, RunState
from loket.core.text import printable
from loket.errors import LoketError, NotFound, ValidationFailed
from loket.types import SettlementLine

log = logging.getLogger(__name__)

STALE_AFTER = dt.timedelta(minutes=10)
"""A run ``running`` without a heartbeat this long is taken to have lost its process."""
QUEUED_AFTER = dt.timedelta(minutes=2)
"""A run still ``queued`` this long after upload lost its task (the sweep hands it again)."""
BEAT_EVERY = dt.timedelta(minutes=1)
"""A run reading its file through before its first block writes a heartbeat this often."""
MAX_ATTEMPTS = 3
UNMATCHED_SAMPLE = 100


def kick(ctx, run_id: int) -> None:
    """Hand a run to the job queue when one is wired, else (a container built without
    one, as an embedding host or a test may) to a thread of this process: either way the
    request that uploaded the file never waits for it."""
    if ctx.run_kick is not None:
        ctx.run_kick(run_id)
    else:
        threading.Thread(target=process, args=(ctx, run_id), daemon=True,
                         name=f"reconciliation-run-{run_id}").start()


def process(ctx, run_id: int) -> str:
    """Reconcile a run's file (the worker's task; idempotent: a run that is finished, or
    that another process is reading, is left alone).

    :returns: the run's state afterwards.
    """
    claimed = _claim(ctx, run_id)
    if claimed is None:
        return _state(ctx, run_id)
    path = folder(ctx) / claimed.stored_as
    try:
        if not path.exists():
            raise ValidationFailed("the uploaded file is gone from the var directory; upload "
                                   "it again", field="file")
        outcome = _reconcile(ctx, claimed, path)
    except TakenOver as exc:
        log.warning("reconciliation run %s: %s; this attempt stops", run_id, exc)
        return _state(ctx, run_id)
    except LoketError as exc:  # the file itself is wrong: running it again changes nothing
        return _finish(ctx, claimed, RunState.FAILED, error=exc.detail)
    except Exception:  # noqa: BLE001 - kept for the sweep, up to MAX_ATTEMPTS
        log.exception("reconciliation run %s failed (attempt %s)", run_id, claimed.attempts)
        state = RunState.FAILED if claimed.attempts >= MAX_ATTEMPTS else RunState.QUEUED
        # The detail (a database error's statement and values) is for the log only.
        return _finish(ctx, claimed, state, error=f"internal error in attempt "
                       f"{claimed.attempts}; see the worker's log for reconciliation run "
                       f"{run_id}")
    ended = _finish(ctx, claimed, RunState.DONE, counts=outcome)
    if ended == RunState.DONE:  # not when a newer attempt, which reads the file, took over
        path.unlink(missing_ok=True)
    return ended


class TakenOver(Exception):
    """Another attempt claimed the run while this one read it (its block rolls back)."""


def _state(ctx, run_id: int) -> str:
    with ctx.transaction() as session:
        row = session.get(ReconciliationRun, run_id)
        return row.state if row else "missing"


def _claim(ctx, run_id: int) -> ReconciliationRun | None:
    """Mark the run ``running`` (a detached copy), unless it is finished or another process
    holds it (a fresh heartbeat)."""
    now = ctx.now()
    with ctx.transaction() as session:
        row = session.scalar(select(ReconciliationRun).where(ReconciliationRun.id == run_id)
                             .with_for_update())
        if row is None or row.state in (RunState.DONE, RunState.FAILED):
            return None
        if row.state == RunState.RUNNING and row.heartbeat_at and \
                row.heartbeat_at > now - STALE_AFTER:
            return None
        if row.attempts >= MAX_ATTEMPTS:  # each attempt's process died while reading it
            row.state, row.finished_at = RunState.FAILED, now
            row.error = (f"stopped after {row.attempts} attempts whose process ended while "
                         f"reading the file (out of memory or killed); see the worker's log")
            log.error("reconciliation run %s: %s", run_id, row.error)
            return None
        row.state, row.heartbeat_at, row.error = RunState.RUNNING, now, None
        row.attempts += 1
        session.flush()
        session.expunge(row)
        return row


def _reconcile(ctx, run: ReconciliationRun, path: Path) -> dict[str, Any]:
    """Read the file through the gateway's parser (or the bank statement reader).

    :returns: the run's counts.
    """
    if run.kind == RunKind.BANK_STATEMENT:
        return _bank_statement(ctx, run, path)
    return _settle_report(ctx, run, path.read_bytes())  # the parse hook takes the bytes


def _settle_report(ctx, run: ReconciliationRun, content: bytes) -> dict[str, Any]:
    """A settlement report, a transaction per block of lines: each block commits with the
    run's counts, so an attempt that starts again skips the lines an earlier one committed
    and adds to its counts (a run claimed by a newer attempt meanwhile rolls the block
    back). The whole file is read once before, so that a wrong line fails the run before
    any block moved money."""
    def read() -> tuple[int, Iterable[SettlementLine]]:
        with ctx.transaction() as session:
            row, lines = settlements.read_report(ctx, session, run.tenant_id,
                                                 run.gateway or "", content, run.filename)
            return row.id, lines

    _read_through(ctx, run, read()[1])
    configuration_id, lines = read()

    def record(session: Session, tally: settling.Tally) -> None:
        _record(ctx, session, run, tally.lines, tally.matched, tally.already_settled,
                tally.unmatched)

    tally = settling.settle_committing(ctx, configuration_id,
                                       islice(lines, run.committed_lines, None), record)
    return _counts(run, tally.lines, tally.matched, tally.already_settled, tally.unmatched)


def _bank_statement(ctx, run: ReconciliationRun, path: Path) -> dict[str, Any]:
    """A bank statement, read from disk as it goes, a transaction per block of lines, as a
    settlement report is (:func:`_settle_report`): read through once first, then block by
    block after the lines an earlier attempt committed."""
    with ctx.transaction() as session:
        currency = load_settings(session, run.tenant_id).currency

    def read() -> Iterator[bank.BankLine]:
        try:
            with path.open(encoding="utf-8-sig", newline="") as text:
                yield from bank.read_statement(text, currency)
        except UnicodeDecodeError:
            raise ValidationFailed("the statement is not UTF-8 text", field="file") from None

    _read_through(ctx, run, read())

    def record(session: Session, tally: bank.Tally) -> None:
        _record(ctx, session, run, tally.lines, len(tally.matched), tally.already_imported,
                tally.unmatched)

    actor = audit.Actor(run.uploaded_by, run.uploaded_role, tenant_id=run.tenant_id)
    tally = bank.import_committing(ctx, actor, run.tenant_id,
                                   islice(read(), run.committed_lines, None), record)
    return _counts(run, tally.lines, len(tally.matched), tally.already_imported,
                   tally.unmatched)


def _read_through(ctx, run: ReconciliationRun, lines: Iterable[Any]) -> None:
    """Read the file's lines through once (the reader checks each), with a heartbeat at
    least every :data:`BEAT_EVERY` (looked at every block of lines), so that a file whose
    first reading takes longer than :data:`STALE_AFTER` is not taken for a dead process.

    :raises TakenOver: a newer attempt claimed the run meanwhile.
    """
    beaten = ctx.now()
    for count, _line in enumerate(lines, start=1):
        if count % settling.BLOCK == 0 and ctx.now() - beaten >= BEAT_EVERY:
            with ctx.transaction() as session:
                _held(ctx, session, run)
            beaten = ctx.now()


def _held(ctx, session: Session, run: ReconciliationRun) -> ReconciliationRun:
    """The run's row, locked, with a fresh heartbeat.

    :raises TakenOver: a newer attempt claimed the run (the caller's transaction rolls
        back).
    """
    row = session.get_one(ReconciliationRun, run.id, with_for_update=True)
    if row.attempts != run.attempts:
        raise TakenOver(f"attempt {row.attempts} took it over")
    row.heartbeat_at = ctx.now()
    return row


def _record(ctx, session: Session, run: ReconciliationRun, lines: int, matched: int,
            already: int, unmatched: list[str]) -> None:
    """Write the run's counts and heartbeat in a block's transaction, so that they commit
    with it.

    :raises TakenOver: a newer attempt claimed the run (the block rolls back).
    """
    row = _held(ctx, session, run)
    for name, value in _counts(run, lines, matched, already, unmatched).items():
        setattr(row, name, value)


def _counts(run: ReconciliationRun, lines: int, matched: int, already: int,
            unmatched: list[str]) -> dict[str, Any]:
    """The run's counts: what earlier attempts committed (none when they committed no
    block), and this attempt's (``lines`` read, ``matched``, ``already`` settled or
    imported, the ``unmatched`` references)."""
    counted = ("lines", "matched", "already_settled", "unmatched")
    earlier = {name: getattr(run, name) if run.committed_lines else 0 for name in counted}
    sample = list(run.unmatched_sample or []) if run.committed_lines else []
    total = earlier["lines"] + lines
    return {"lines": total, "committed_lines": total,
            "matched": earlier["matched"] + matched,
            "already_settled": earlier["already_settled"] + already,
            "unmatched": earlier["unmatched"] + len(unmatched),
            "unmatched_sample": [*sample, *unmatched[:UNMATCHED_SAMPLE]][:UNMATCHED_SAMPLE]}


def _finish(ctx, claimed: ReconciliationRun, state: RunState, error: str | None = None,
            counts: dict[str, Any] | None = None) -> str:
    """Record how the claimed attempt ended, unless another process has taken the run over
    since (its attempt number moved on)."""
    run_id = claimed.id
    with ctx.transaction() as session:
        row = session.get(ReconciliationRun, run_id, with_for_update=True)
        if row.attempts != claimed.attempts:
            log.warning("reconciliation run %s was taken over; attempt %s ends unrecorded",
                        run_id, claimed.attempts)
            return row.state
        row.state = state
        row.error = printable(error)[:2000] if error else None
        if counts is not None:
            for name, value in counts.items():
                setattr(row, name, value)
        if state in (RunState.DONE, RunState.FAILED):
            row.finished_at = ctx.now()
    log.info("reconciliation run %s: %s%s", run_id, state, f" ({error})" if error else "")
    return state


def resume_stale(ctx, limit: int = 20) -> list[int]:
    """Hand again the runs whose task was lost (``queued`` too long) or whose process died
    (``running`` without a heartbeat): the worker's sweep, every 5 minutes.

    :returns: the ids handed on.
    """
    now = ctx.now()
    with ctx.transaction() as session:
        ids = list(session.scalars(select(ReconciliationRun.id).where(or_(
            (ReconciliationRun.state == RunState.QUEUED)
            & (ReconciliationRun.created_at < now - QUEUED_AFTER),
            (ReconciliationRun.state == RunState.RUNNING)
            & (ReconciliationRun.heartbeat_at < now - STALE_AFTER)))
            .order_by(ReconciliationRun.id).limit(limit)))
    for run_id in ids:
        kick(ctx, run_id)
    return ids


def to_json(run: ReconciliationRun) -> dict[str, Any]:
    """The API's view of a run (the counts so far while it is ``running``)."""
    return {"id": run.id, "kind": run.kind, "gateway": run.gateway, "filename": run.filename,
            "size": run.size, "state": run.state, "lines": run.lines, "matched": run.matched,
            "already_settled": run.already_settled, "unmatched": run.unmatched,
            "unmatched_sample": list(run.unmatched_sample or []), "error": run.error,
            "attempts": run.attempts, "uploaded_by": run.uploaded_by,
            "created_at": run.created_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None}


def wait(ctx, run_id: int, progress: Callable[[dict[str, Any]], None],
         every_ms: int = 1000) -> dict[str, Any]:
    """Wait for a run to end (``loket reconcile report --in-worker``), calling ``progress``
    with its API view every ``every_ms`` milliseconds.

    :returns: the run's API view once ``done`` or ``failed``.
    """
    while True:
        time.sleep(every_ms / 1000)
        with ctx.transaction() as session:
            answer = to_json(session.get(ReconciliationRun, run_id))
        progress(answer)
        if answer["state"] in (RunState.DONE, RunState.FAILED):
            return answer


def get_run(session: Session, tenant_id: int, run_id: int) -> ReconciliationRun:
    """A run of this tenant.

    :raises NotFound: no such run (or another tenant's).
    """
    row = session.get(ReconciliationRun, run_id)
    if row is None or row.tenant_id != tenant_id:
        raise NotFound(f"no reconciliation run {run_id}")
    return row


def list_runs(session: Session, tenant_id: int, limit: int = 50) -> list[ReconciliationRun]:
    """The tenant's latest runs, newest first."""
    return list(session.scalars(select(ReconciliationRun).where(
        ReconciliationRun.tenant_id == tenant_id).order_by(ReconciliationRun.id.desc())
        .limit(limit)))

