"""Sub-commands ``loket reconcile report`` and ``loket reconcile statement`` (added to the
``loket`` command by ``add_parser``): a settlement report of any size reconciled here with a
progress bar, or handed to the worker and followed; a bank statement handed to the worker
and followed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from loket.cli import CLI, container
from loket.cli_files import reading

if TYPE_CHECKING:
    from loket.core.states import RunKind


def cmd_reconcile_report(args) -> None:
    from loket.core.reconciliation import settlements, sources
    from loket.core.states import RunKind
    from loket.core.tenants import tenant_by_slug
    from loket.progress import count_lines, progress_bar
    in_worker = args.in_worker or sources.is_url(args.file)
    ctx = container(args, needs_key=not in_worker)  # read here with the credentials
    if in_worker:
        _follow_run(ctx, args, RunKind.SETTLEMENT_REPORT)
        return
    path = Path(args.file)
    with reading(args.file):
        lines = count_lines(path)
    bar = progress_bar(max(lines - 1, 1), "lines", quiet=args.quiet)
    with reading(args.file, UnicodeDecodeError), ctx.transaction() as session:
        result = settlements.import_report(
            ctx, session, tenant_by_slug(session, args.tenant).id, args.gateway,
            path.read_bytes(), path.name, progress=lambda tally: bar(tally.lines))
    bar(result.matched + result.already_settled + len(result.unmatched), final=True)
    print(f"matched {result.matched}, already settled {result.already_settled}, "
          f"unmatched {len(result.unmatched)}")


def cmd_reconcile_statement(args) -> None:
    """``loket reconcile statement FILE --tenant T``: hand a bank statement (a file, or a
    URL) to the worker, which reads it a block of lines at a time, and show its progress
    until it ends."""
    from loket.core.states import RunKind
    _follow_run(container(args), args, RunKind.BANK_STATEMENT)


def _follow_run(ctx, args, kind: RunKind) -> None:
    """Hand the file (a path, or a URL downloaded first) to the worker as a run of ``kind``,
    then show its progress until it ends."""
    from loket.core.reconciliation import runs, sources
    from loket.core.states import RunKind, RunState
    from loket.core.tenants import tenant_by_slug
    from loket.errors import ValidationFailed
    from loket.progress import count_lines, progress_bar
    with sources.named_file(ctx.config, args.file, runs.folder(ctx)) as (path, name, lines):
        with reading(args.file):
            lines = count_lines(path) if lines is None else lines
        with ctx.transaction() as session:
            run_id = runs.store_upload(ctx, session, CLI, tenant_by_slug(
                session, args.tenant).id, kind, getattr(args, "gateway", None), name, path).id
    bar = progress_bar(max(lines - 1, 1), "lines", quiet=args.quiet)
    runs.kick(ctx, run_id)
    print(f"run {run_id} queued; the worker (`loket worker`) reads it", file=sys.stderr)
    answer = runs.wait(ctx, run_id, lambda run: bar(run["lines"]))
    if answer["state"] == RunState.FAILED:
        raise ValidationFailed(f"run {run_id} failed: {answer['error']}", field="file")
    bar(answer["lines"], final=True)
    already = "settled" if kind == RunKind.SETTLEMENT_REPORT else "imported"
    print(f"matched {answer['matched']}, already {already} {answer['already_settled']}, "
          f"unmatched {answer['unmatched']}")


def add_parser(sub) -> None:
    """Add ``reconcile report`` and ``reconcile statement`` to the ``loket`` command's
    sub-commands."""
    reconcile = sub.add_parser("reconcile", help="reconcile gateway settlements").add_subparsers(
        dest="reconcile_cmd", required=True)
    report = reconcile.add_parser("report", help="reconcile a settlement report file of any "
                                                 "size, with a progress bar")
    report.add_argument("file", help="the report as the gateway delivered it (CSV/XLSX), or "
                                     "its https:// URL (downloaded, handed to the worker)")
    report.add_argument("--tenant", required=True, help="tenant slug")
    report.add_argument("--gateway", required=True, help="gateway kind, e.g. doku")
    report.add_argument("--quiet", action="store_true", help="no progress bar")
    report.add_argument("--in-worker", action="store_true",
                        help="hand the file to the worker and follow its progress")
    report.set_defaults(func=cmd_reconcile_report)
    statement = reconcile.add_parser("statement", help="confirm gateway payouts from a bank "
                                                       "statement of any size, read by the "
                                                       "worker, with a progress bar")
    statement.add_argument("file", help="the statement (CSV: date,reference,amount"
                                        "[,description]), or its https:// URL")
    statement.add_argument("--tenant", required=True, help="tenant slug")
    statement.add_argument("--quiet", action="store_true", help="no progress bar")
    statement.set_defaults(func=cmd_reconcile_statement)
