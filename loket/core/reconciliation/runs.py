"""Reconciliation files of any size: stored as they stream in, then read by the worker a
block of lines at a time, with progress anyone can follow.

1. :func:`store_upload` copies the file, a megabyte at a time, under
   ``{var_dir}/reconciliation/`` (never whole in memory) and records a run, ``queued``.
2. After the commit the run is handed to the job queue (``ctx.run_kick``), or, without a
   queue, to a thread of this process; :func:`process` claims it (``running``) and reads
   the file. A settlement report commits a block of lines at a time, each with the run's
   counts so far and a heartbeat (:func:`settling.settle_committing`); a bank statement is
   read in one transaction, its counts written when it ends.
3. It ends ``done`` (the file deleted) or ``failed`` with the reason (the file kept). A run
   whose process died (no heartbeat for :data:`STALE_AFTER`) or whose task was lost is
   started again by :func:`resume_stale` (the worker's sweep), at most :data:`MAX_ATTEMPTS`
   times. A settlement report starts again after the last block that committed, counting
   on from there. A line the gateway's parser rejects fails the run before any block (the
   file is read through once first); a run that failed while settling keeps the blocks it
   committed (uploaded again, their lines count as ``already_settled``).

The API, the worker and the sweep must share the var directory (one machine, or a shared
volume).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from itertools import islice
from pathlib import Path, PurePath
from typing import IO, Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.models import ReconciliationRun
from loket.core.reconciliation import bank, settlements, settling
from loket.core.states import RunKind, RunState
from loket.core.text import printable
from loket.errors import LoketError, NotFound, NotSupported, TooLarge, ValidationFailed
from loket.types import SettlementLine

log = logging.getLogger(__name__)

CHUNK = 1 << 20
STALE_AFTER = dt.timedelta(minutes=10)
"""A run ``running`` without a heartbeat this long is taken to have lost its process."""
SQLITE_STALE_AFTER = dt.timedelta(hours=6)
"""The same for a bank statement on SQLite, where one writer at a time means its single
transaction leaves no room for heartbeats (a settlement report beats after every block)."""
QUEUED_AFTER = dt.timedelta(minutes=2)
"""A run still ``queued`` this long after upload lost its task (the sweep hands it again)."""
MAX_ATTEMPTS = 3
UNMATCHED_SAMPLE = 100
EXTENSIONS = {RunKind.SETTLEMENT_REPORT: (".csv", ".xlsx", ".txt"),
              RunKind.BANK_STATEMENT: (".csv", ".txt")}


def folder(ctx) -> Path:
    """Where uploaded reconciliation files wait for the worker."""
    return Path(ctx.config.var_dir) / "reconciliation"


def store_upload(ctx, session: Session, actor: audit.Actor, tenant_id: int, kind: RunKind,
                 gateway: str | None, filename: str, stream: IO[bytes] | Path
                 ) -> ReconciliationRun:
    """Copy an uploaded file to disk and record its run (``queued``) in the caller's
    transaction; the caller hands it on with :func:`kick` after the commit.

    Called by ``POST /v1/gateways/{kind}/settlement-report-files``, ``POST
    /v1/reconciliation/bank-statement-files``, ``POST /v1/reconciliation/runs`` and ``loket
    reconcile report --in-worker``.

    :param stream: the file's bytes, or its path: a file already in :func:`folder` (a
        download) is moved into place, any other copied.

    :raises ValidationFailed: a file name that is not a plain name with a known extension.
    :raises NotSupported: a settlement report for a gateway that reads none.
    :raises TooLarge: more than ``max_upload_bytes`` (nothing is kept).
    """
    name = check_target(ctx, session, tenant_id, kind, gateway, filename)
    target = folder(ctx) / f"{uuid.uuid4().hex}{PurePath(name).suffix.lower()}"
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(stream, Path) and stream.parent.resolve() == target.parent.resolve():
        size = stream.stat().st_size  # the download kept to the same limit
        stream.replace(target)
    elif isinstance(stream, Path):
        with stream.open("rb") as opened:
            size = _copy(opened, target, ctx.config.max_upload_bytes)
    else:
        size = _copy(stream, target, ctx.config.max_upload_bytes)
    run = ReconciliationRun(
        tenant_id=tenant_id, kind=kind, gateway=gateway, filename=name,
        stored_as=target.name, size=size, state=RunState.QUEUED, uploaded_by=actor.name[:200],
        uploaded_role=actor.role, created_at=ctx.now(), unmatched_sample=[])
    session.add(run)
    session.flush()
    audit.record(session, actor, "reconciliation.uploaded", "reconciliation_run", run.id,
                 after={"kind": kind, "gateway": gateway, "filename": name, "size": size},
                 tenant_id=tenant_id)
    return run


def check_target(ctx, session: Session, tenant_id: int, kind: RunKind, gateway: str | None,
                 filename: str) -> str:
    """Could a file named ``filename`` of ``kind`` (for ``gateway``) be read? Returns the
    name to keep. Called by :func:`store_upload`, and before fetching a file from a URL.

    :raises ValidationFailed: a file name that is not a plain name with a known extension.
    :raises NotSupported: a settlement report for a gateway that reads none.
    """
    name = _checked_name(kind, filename)
    if kind == RunKind.SETTLEMENT_REPORT:
        settlements.configured(ctx, session, tenant_id, gateway or "",
                               "upload its settlement reports")
        if not ctx.plugins.supports(gateway, "loket_gateway_parse_settlement_report"):
            raise NotSupported(f"the {ctx.plugins.gateway(gateway).display_name} gateway does "
                               f"not read settlement reports (not supported by this gateway)",
                               field="kind")
    return name


def _checked_name(kind: RunKind, filename: str) -> str:
    name = (filename or "").strip()
    if not name or PurePath(name).name != name or len(name) > 200 or not name.isprintable():
        raise ValidationFailed("filename must be a plain file name (no folders) of at most "
                               "200 characters", field="filename")
    if PurePath(name).suffix.lower() not in EXTENSIONS[kind]:
        raise ValidationFailed(f"filename must end in one of {', '.join(EXTENSIONS[kind])}",
                               field="filename")
    return name


def _copy(stream: IO[bytes], target: Path, limit: int) -> int:
    """Copy ``stream`` to ``target`` a chunk at a time; nothing stays past ``limit`` bytes."""
    size = 0
    try:
        with target.open("wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"the file is over {limit:,} bytes", field="body")
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    if size == 0:
        target.unlink(missing_ok=True)
        raise ValidationFailed("the file is empty", field="body")
    return size


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
    except Exception as exc:  # noqa: BLE001 - kept for the sweep, up to MAX_ATTEMPTS
        log.exception("reconciliation run %s failed", run_id)
        state = RunState.FAILED if claimed.attempts >= MAX_ATTEMPTS else RunState.QUEUED
        return _finish(ctx, claimed, state, error=f"{type(exc).__name__}: {exc}")
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
                row.heartbeat_at > now - _stale_after(ctx, row.kind):
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
    content = path.read_bytes()  # the parse hook takes the file's bytes; lines stream
    if run.kind != RunKind.BANK_STATEMENT:
        return _settle_report(ctx, run, content)
    actor = audit.Actor(run.uploaded_by, run.uploaded_role, tenant_id=run.tenant_id)
    with ctx.transaction() as session:
        banked = bank.import_statement(ctx, session, actor, run.tenant_id,
                                       content.decode("utf-8-sig"))
    return {"lines": len(banked.matched) + len(banked.unmatched) + banked.already_imported,
            "matched": len(banked.matched), "already_settled": banked.already_imported,
            "unmatched": len(banked.unmatched),
            "unmatched_sample": list(banked.unmatched[:UNMATCHED_SAMPLE])}


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

    deque(read()[1], maxlen=0)
    configuration_id, lines = read()
    done = run.committed_lines

    def record(session: Session, tally: settling.Tally) -> None:
        row = session.get_one(ReconciliationRun, run.id, with_for_update=True)
        if row.attempts != run.attempts:
            raise TakenOver(f"attempt {row.attempts} took it over")
        for name, value in _counts(run, tally).items():
            setattr(row, name, value)
        row.heartbeat_at = ctx.now()

    tally = settling.settle_committing(ctx, configuration_id, islice(lines, done, None),
                                       record)
    return _counts(run, tally)


def _counts(run: ReconciliationRun, tally: settling.Tally) -> dict[str, Any]:
    """The run's counts: what earlier attempts committed (none when they committed no
    block), and this attempt's ``tally``."""
    counted = ("lines", "matched", "already_settled", "unmatched")
    earlier = {name: getattr(run, name) if run.committed_lines else 0 for name in counted}
    sample = list(run.unmatched_sample or []) if run.committed_lines else []
    lines = earlier["lines"] + tally.lines
    return {"lines": lines, "committed_lines": lines,
            "matched": earlier["matched"] + tally.matched,
            "already_settled": earlier["already_settled"] + tally.already_settled,
            "unmatched": earlier["unmatched"] + len(tally.unmatched),
            "unmatched_sample": [*sample, *tally.unmatched[:UNMATCHED_SAMPLE]][:UNMATCHED_SAMPLE]}


def _stale_after(ctx, kind: str) -> dt.timedelta:
    """How long a run of ``kind`` may go without a heartbeat before it is started again."""
    if kind == RunKind.BANK_STATEMENT and ctx.engine.dialect.name == "sqlite":
        return SQLITE_STALE_AFTER
    return STALE_AFTER


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
            & (ReconciliationRun.heartbeat_at < now - STALE_AFTER)
            & ((ReconciliationRun.kind != RunKind.BANK_STATEMENT)
               | (ReconciliationRun.heartbeat_at < now - _stale_after(
                   ctx, RunKind.BANK_STATEMENT)))))
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

