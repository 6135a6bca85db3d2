"""Benchmark: reconciling a DOKU settlement report against as many payments, beside polars.

    .venv/bin/python benchmarks/bench_reconciliation.py --lines 1000000 [--sqlite] [--run]
        [--unmatched 0.001] [--consumers 10000] [--loket-src PATH]

On a throw-away PostgreSQL database (``--sqlite``: a file) it writes N succeeded DOKU
payments (with COPY) and a DOKU settlement report CSV of N lines naming them, then runs in
separate processes, alternated:

* the bare baseline: polars reads the report and the payments (``COPY ... TO STDOUT``) and
  joins them on the invoice number;
* loket: ``settlements.import_report`` end to end (the DOKU plugin parses the file, the
  lines complete their payments, the unmatched ones become to-dos), committed, with the
  tracking sink bound to the database and the job queue replaced by a no-op (what the
  worker later sends is not timed), the garbage collector tuned as in the worker. With
  ``--run`` the report is uploaded as a reconciliation run instead and read as the worker
  reads one (``runs.process``).

Prints seconds and peak memory (max RSS) of each, and loket's ratio to the baseline.
``--loket-src`` runs loket from another checkout (e.g. the commit before a change), for a
before/after figure on the same data. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
ROOT = Path(__file__).resolve().parents[1]
HEADER = "Invoice Number,Amount,Fee,Tax,Net Amount,Settlement Date,Batch ID,Channel\n"


def _database(sqlite: bool, workdir: Path) -> tuple[str, object]:
    from sqlalchemy import create_engine, text
    if sqlite:
        return f"sqlite:///{workdir / 'bench.db'}", lambda: None
    name = f"loket_bench_rec_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def cleanup() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", cleanup


def _context(url: str, workdir: Path, key: str):
    from loket.core.config import AppConfig
    from loket.core.context import Loket
    from loket.core.db import make_engine
    config = AppConfig(database_url=url, var_dir=workdir / "var", base_url="http://bench",
                       secret_keys=(key,))
    return Loket.create(config, engine=make_engine(url))


def _payment_rows(n: int, tenant_id: int, config_id: int, consumers: list[int]):
    # Money taken, its application to bills pending (no allocation rows to seed: the
    # settlement does not touch them, and the one-by-one path checks them).
    succeeded = dt.datetime(2026, 11, 1, 3, 0, tzinfo=dt.UTC)
    for i in range(n):
        number = f"PAY-2026-{i + 1:07d}"
        amount = 10_000_00 + (i % 500) * 1_000_00
        yield (tenant_id, number, consumers[i % len(consumers)], config_id, number, "online",
               "bank_transfer", "bill", "succeeded", "verified", "In Progress", "IDR", amount,
               0, False, amount, 0, 0, "pending", "{}", False, succeeded, succeeded, succeeded,
               succeeded)


PAYMENT_COLUMNS = (
    "tenant_id", "number", "consumer_id", "gateway_configuration_id", "gateway_reference",
    "channel", "method", "payment_type", "status", "verification", "settlement_status",
    "currency", "amount", "fee", "fee_passed_on", "amount_received", "change_given", "refunded",
    "application_state", "gateway_details", "is_test", "created_at", "paid_at", "succeeded_at",
    "updated_at")


def seed(url: str, workdir: Path, n: int, consumers: int) -> tuple[int, str]:
    """Create the schema, a tenant with DOKU configured, ``consumers`` consumers and ``n``
    succeeded DOKU payments; returns the tenant id and the secret key."""
    from sqlalchemy import insert, select

    from loket.core import audit
    from loket.core.gateway_configs import configs
    from loket.core.models import Base, Consumer, Payment
    from loket.core.secrets import SecretBox
    from loket.core.tenants import create_tenant
    key = SecretBox.generate_key()
    ctx = _context(url, workdir, key)
    Base.metadata.create_all(ctx.engine)
    actor = audit.Actor("bench", "cso_admin")
    with ctx.transaction() as session:
        tenant_id = create_tenant(session, actor, "bench", "Bench", {"currency": "IDR"}).id
        row = configs.get_row(session, tenant_id, "doku", create=True)
        row.active = True
        row.credentials_encrypted = ctx.secrets.encrypt({"client_id": "BRN-0001-000000001"})
        session.flush()
        config_id = row.id
        session.execute(insert(Consumer.__table__), [
            {"tenant_id": tenant_id, "account_number": f"ACC-{i:07d}", "name": f"Payer {i}",
             "name_search": f"payer {i}",
             "email": f"payer{i}@example.com", "person_type": "individual"}
            for i in range(consumers)])
        ids = list(session.scalars(select(Consumer.id).where(Consumer.tenant_id == tenant_id)))
    rows = _payment_rows(n, tenant_id, config_id, ids)
    if url.startswith("postgresql"):
        raw = ctx.engine.raw_connection()
        with raw.cursor() as cursor, cursor.copy(
                f"COPY payments ({', '.join(PAYMENT_COLUMNS)}) FROM STDIN") as copy:
            for values in rows:
                copy.write_row(values)
        raw.commit()
        with raw.cursor() as cursor:  # a live database has its statistics
            cursor.execute("ANALYZE")
        raw.commit()
        raw.close()
    else:
        with ctx.transaction() as session:
            batch = []
            for values in rows:
                batch.append(dict(zip(PAYMENT_COLUMNS, values, strict=True)))
                if len(batch) == 10_000:
                    session.execute(insert(Payment.__table__), batch)
                    batch = []
            if batch:
                session.execute(insert(Payment.__table__), batch)
    ctx.engine.dispose()
    return tenant_id, key


def write_report(path: Path, n: int, unmatched: float, first: int = 0) -> None:
    """The DOKU settlement report CSV: one line per payment (payments ``first`` to
    ``first + n - 1`` of :func:`seed`), a share naming none."""
    rng = random.Random(13 + first)
    with path.open("w") as out:
        out.write(HEADER)
        for i in range(first, first + n):
            invoice = f"PAY-2026-{i + 1:07d}" if rng.random() >= unmatched else f"UNK-{i:07d}"
            amount = 10_000_00 + (i % 500) * 1_000_00
            rupiah = amount // 100
            fee, tax = 4000, 440
            out.write(f"{invoice},{rupiah},{fee},{tax},{rupiah - fee - tax},2026-11-03 10:00:00,"
                      f"STL-20261103-{i // 50_000:03d},VIRTUAL_ACCOUNT_BCA\n")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def backend_cpu(pid: int | None) -> float:
    """CPU seconds a PostgreSQL backend of this machine has used (0 for SQLite)."""
    if not pid:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _backend_pid(connection) -> int | None:
    if connection.dialect.name != "postgresql":
        return None
    from sqlalchemy import text
    return connection.execute(text("SELECT pg_backend_pid()")).scalar()


def _tune_gc() -> None:
    """The collector as the worker and the ``loket`` program set it (a checkout from
    before :mod:`loket.ops.runtime` keeps Python's defaults)."""
    try:
        from loket.ops.runtime import tune_gc
    except ImportError:
        return
    tune_gc()


def run_loket(url: str, workdir: Path, key: str, tenant_id: int, report: Path,
              through_run: bool = False) -> dict:
    """In this process: import the report as staff would (the job queue a no-op), inline or
    (``through_run``) uploaded as a run that the worker reads."""
    from loket.core.reconciliation import settlements
    from loket.jobs.wiring import install_builtins

    class NoQueue:
        """Every task a no-op: what the worker sends later is not timed."""

        def __getattr__(self, task: str):
            return lambda *args, **kwargs: None

    ctx = _context(url, workdir, key)
    install_builtins(ctx, jobs=NoQueue())
    _tune_gc()
    if through_run:
        return _through_run(ctx, tenant_id, report)
    started, cpu = time.perf_counter(), _cpu()
    with ctx.transaction() as session:
        pid = _backend_pid(session.connection())
        server = backend_cpu(pid)
        result = settlements.import_report(ctx, session, tenant_id, "doku",
                                           report.read_bytes(), report.name)
        server = backend_cpu(pid) - server
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "cpu": _cpu() - cpu + server, "server_cpu": server,
            "matched": result.matched, "already": result.already_settled,
            "unmatched": len(result.unmatched)}


def _through_run(ctx, tenant_id: int, report: Path) -> dict:
    """The report uploaded (not timed), then read as the worker reads it
    (``runs.process``: a transaction per block in loket since the runs committed by
    block; one before)."""
    from loket.core import audit
    from loket.core.models import ReconciliationRun
    from loket.core.reconciliation import runs
    from loket.core.states import RunKind
    with ctx.transaction() as session:
        run_id = runs.store_upload(ctx, session, audit.Actor("bench", "billing_manager"),
                                   tenant_id, RunKind.SETTLEMENT_REPORT, "doku", report.name,
                                   report).id
    with ctx.engine.connect() as connection:  # one thread: the pool's only connection
        pid = _backend_pid(connection)
    started, cpu, server = time.perf_counter(), _cpu(), backend_cpu(pid)
    state = runs.process(ctx, run_id)
    server = backend_cpu(pid) - server
    seconds = time.perf_counter() - started
    with ctx.transaction() as session:
        run = session.get(ReconciliationRun, run_id)
        assert state == "done", (state, run.error)
        return {"seconds": seconds, "cpu": _cpu() - cpu + server, "server_cpu": server,
                "matched": run.matched, "already": run.already_settled,
                "unmatched": run.unmatched}


def run_polars(url: str, report: Path) -> dict:
    """In this process: polars reads the report and the payments and joins them."""
    import polars as pl
    from sqlalchemy import create_engine
    started, cpu, server = time.perf_counter(), _cpu(), 0.0
    lines = pl.read_csv(report, schema_overrides={"Invoice Number": pl.Utf8})
    buffer = io.BytesIO()
    if url.startswith("postgresql"):
        raw = create_engine(url).raw_connection()
        with raw.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        server = backend_cpu(pid)
        with raw.cursor() as cursor, cursor.copy(
                "COPY (SELECT id, number, amount_received, completed_at FROM payments) "
                "TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
            for chunk in copy:
                buffer.write(chunk)
        server = backend_cpu(pid) - server
        raw.close()
        payments = pl.read_csv(buffer.getvalue())
    else:
        payments = pl.read_database_uri("SELECT id, number, amount_received FROM payments",
                                        url.replace("sqlite:///", "sqlite://"))
    joined = lines.join(payments, left_on="Invoice Number", right_on="number", how="left")
    matched = joined.filter(pl.col("id").is_not_null()).height
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "cpu": _cpu() - cpu + server, "server_cpu": server,
            "matched": matched, "unmatched": joined.height - matched}


def _child(args) -> None:
    workdir = Path(args.workdir)
    report = Path(args.report) if args.report else workdir / "report.csv"
    if args.child == "polars":
        out = run_polars(args.url, report)
    else:
        out = run_loket(args.url, workdir, args.key, args.tenant, report,
                        through_run=args.child == "loket-run")
    out["max_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(json.dumps(out))


def spawn(kind: str, url: str, workdir: Path, key: str, tenant_id: int,
          src: str | None = None, report: Path | None = None) -> dict:
    """Run ``kind`` (``loket`` or ``polars``) over ``report`` in a child process; returns its
    figures (seconds, CPU seconds with the PostgreSQL backend's, max RSS, counts)."""
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--url", url, "--workdir", str(workdir),
         f"--key={key}", "--tenant", str(tenant_id),
         *(["--report", str(report)] if report else [])], env=env, capture_output=True,
        text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{kind} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--consumers", type=int, default=10_000)
    parser.add_argument("--unmatched", type=float, default=0.001,
                        help="share of report lines naming no payment")
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--loket-src", help="run loket from this source tree instead")
    parser.add_argument("--run", action="store_true",
                        help="upload the report as a run and read it as the worker does")
    parser.add_argument("--child", choices=("polars", "loket", "loket-run"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--tenant", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--report", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    with tempfile.TemporaryDirectory(prefix="loket-bench-rec-") as tmp:
        workdir = Path(tmp)
        url, cleanup = _database(args.sqlite, workdir)
        try:
            started = time.perf_counter()
            tenant_id, key = seed(url, workdir, args.lines, min(args.consumers, args.lines))
            write_report(workdir / "report.csv", args.lines, args.unmatched)
            print(f"seeded {args.lines:,} payments and a {args.lines:,}-line report "
                  f"({(workdir / 'report.csv').stat().st_size / 2**20:.0f} MiB) in "
                  f"{time.perf_counter() - started:.0f} s on "
                  f"{'SQLite' if args.sqlite else 'PostgreSQL'}")
            before = spawn("polars", url, workdir, key, tenant_id)
            loket = spawn("loket-run" if args.run else "loket", url, workdir, key, tenant_id,
                          args.loket_src)
            after = spawn("polars", url, workdir, key, tenant_id)
        finally:
            cleanup()
    baseline = min(before["seconds"], after["seconds"])
    print(f"{'workload':<30}{'seconds':>9}{'CPU s':>8}{'of it PG':>10}{'max RSS MiB':>13}"
          f"{'lines/s':>10}")
    for name, figures in (("polars read + join (before)", before),
                          ("loket run (worker)" if args.run else "loket import_report",
                           loket),
                          ("polars read + join (after)", after)):
        print(f"{name:<30}{figures['seconds']:>9.2f}{figures['cpu']:>8.2f}"
              f"{figures['server_cpu']:>10.2f}{figures['max_rss_mib']:>13}"
              f"{args.lines / figures['seconds']:>10,.0f}")
    print(f"(CPU s: the process and its PostgreSQL backend, of it PG the backend's; on a "
          f"shared machine the wall time also holds the waits for a core: load average "
          f"{os.getloadavg()[0]:.1f})")
    print(f"loket: {loket['matched']:,} matched, {loket['already']:,} already settled, "
          f"{loket['unmatched']:,} unmatched")
    print(f"ratio loket / polars: {loket['seconds'] / baseline:.1f}x wall, "
          f"{loket['cpu'] / min(before['cpu'], after['cpu']):.1f}x CPU")


if __name__ == "__main__":
    main()
