"""Reconciliation files of any size, stored as they stream in: the upload's half of a
reconciliation run (:mod:`loket.core.reconciliation.runs` reads them).

:func:`store_upload` copies the file, a megabyte at a time, under
``{var_dir}/reconciliation/`` (never whole in memory) and records a run, ``queued``, which
the caller hands to the worker after its commit (:func:`loket.core.reconciliation.runs.kick`).
"""

from __future__ import annotations

import uuid
from pathlib import Path, PurePath
from typing import IO

from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.models import ReconciliationRun
from loket.core.reconciliation import settlements
from loket.core.states import RunKind, RunState
from loket.errors import NotSupported, TooLarge, ValidationFailed

CHUNK = 1 << 20
EXTENSIONS = {RunKind.SETTLEMENT_REPORT: (".csv", ".xlsx", ".txt"),
              RunKind.BANK_STATEMENT: (".csv", ".txt")}


def folder(ctx) -> Path:
    """Where uploaded reconciliation files wait for the worker."""
    return Path(ctx.config.var_dir) / "reconciliation"


def store_upload(ctx, session: Session, actor: audit.Actor, tenant_id: int, kind: RunKind,
                 gateway: str | None, filename: str, stream: IO[bytes] | Path
                 ) -> ReconciliationRun:
    """Copy an uploaded file to disk and record its run (``queued``) in the caller's
    transaction; the caller hands it on with :func:`loket.core.reconciliation.runs.kick`
    after the commit.

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
