"""Benchmark: importing receivables from CSV, beside a bare COPY of the same file.

    .venv/bin/python benchmarks/bench_import.py --rows 1000000 [--sqlite] [--accounts 200000]
        [--loket-src PATH]

On a throw-away PostgreSQL database (``--sqlite``: a file) it writes a receivables CSV of N
rows (one bill per row, every row naming its account, ``--accounts`` accounts), then runs
in separate processes:

* the bare baseline: the file read and COPY'd as it is into an unindexed table of text
  columns (PostgreSQL; on SQLite, polars reads it);
* loket: ``loket import receivables FILE --tenant bench`` (the CLI, progress bar on
  stderr), every row validated and upserted, accounts created, audit rows written.

Prints seconds, rows per second and peak memory (max RSS) of each, and the ratio.
``--loket-src`` runs loket from another checkout (a before figure). Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _database(sqlite: bool, workdir: Path) -> tuple[str, object]:
    from sqlalchemy import create_engine, text
    if sqlite:
        return f"sqlite:///{workdir / 'bench.db'}", lambda: None
    name = f"loket_bench_imp_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def cleanup() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", cleanup


def write_csv(path: Path, rows: int, accounts: int, first: int = 0) -> None:
    """One bill per row (bills ``first`` to ``first + rows - 1``); every row names its
    account (created by its first row)."""
    with path.open("w") as out:
        out.write("account_number,name,kind,reference,amount,description,period,due_date,"
                  "email\n")
        for i in range(first, first + rows):
            account = i % accounts
            out.write(f"ACC-{account:07d},Payer {account},bill,INV-{i:08d},"
                      f"{10 + i % 990}.{i % 100:02d},Water bill,November 2026,2026-12-15,"
                      f"payer{account}@example.com\n")


def env_for(url: str, workdir: Path, src: str | None) -> dict:
    env = dict(os.environ, LOKET_DATABASE_URL=url, LOKET_VAR_DIR=str(workdir / "var"))
    env.pop("LOKET_SECRET_KEY", None)
    if src:
        env["PYTHONPATH"] = src
    return env


def prepare(url: str, workdir: Path) -> None:
    """Migrate the database and create the tenant, with the loket CLI."""
    env = env_for(url, workdir, None)
    for argv in (["db", "upgrade"],
                 ["tenant", "create", "bench", "--name", "Bench", "--currency", "USD"]):
        subprocess.run([sys.executable, "-m", "loket.cli", *argv], env=env, check=True,
                       capture_output=True)


def timed(argv: list[str], env: dict, cwd: Path) -> dict:
    """Run ``argv`` to its end; its seconds (start-up included), output and peak memory."""
    started = time.perf_counter()
    # Run outside the checkout, so that ``-m loket.cli`` imports loket from PYTHONPATH
    # (``--loket-src``) or the installed package, never from the current directory.
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False,
                          cwd=cwd)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"{argv} failed:\n{done.stderr[-3000:]}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"seconds": seconds, "max_rss_mib": usage.ru_maxrss // 1024,
            "stdout": done.stdout, "stderr": done.stderr}


def _baseline_child(url: str, csv_path: Path) -> None:
    if url.startswith("postgresql"):
        import psycopg
        with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as connection:
            connection.execute("DROP TABLE IF EXISTS bare_rows")
            connection.execute("CREATE TABLE bare_rows (account_number text, name text, "
                               "kind text, reference text, amount text, description text, "
                               "period text, due_date text, email text)")
            with connection.cursor() as cursor, cursor.copy(
                    "COPY bare_rows FROM STDIN WITH (FORMAT csv, HEADER)") as copy, \
                    csv_path.open("rb") as source:
                while chunk := source.read(1 << 20):
                    copy.write(chunk)
    else:
        import polars as pl
        pl.read_csv(csv_path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=200_000)
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--loket-src", help="run loket from this source tree instead")
    parser.add_argument("--baseline-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_child:
        _baseline_child(args.baseline_child[0], Path(args.baseline_child[1]))
        return
    with tempfile.TemporaryDirectory(prefix="loket-bench-imp-") as tmp:
        workdir = Path(tmp)
        url, cleanup = _database(args.sqlite, workdir)
        try:
            csv_path = workdir / "receivables.csv"
            write_csv(csv_path, args.rows, min(args.accounts, args.rows))
            size = csv_path.stat().st_size
            prepare(url, workdir)
            bare = timed([sys.executable, str(Path(__file__).resolve()), "--baseline-child",
                           url, str(csv_path)],
                          env_for(url, workdir, None), workdir)
            loket = timed([sys.executable, "-m", "loket.cli", "import", "receivables",
                            str(csv_path), "--tenant", "bench"],
                           env_for(url, workdir, args.loket_src), workdir)
        finally:
            cleanup()
    print(f"{args.rows:,} rows, {min(args.accounts, args.rows):,} accounts, "
          f"{'SQLite' if args.sqlite else 'PostgreSQL'} {size / 2**20:.0f} MiB")
    print(f"{'workload':<36}{'seconds':>9}{'rows/s':>12}")
    for name, figures in (("bare COPY of the file" if not args.sqlite else "polars read",
                           bare), ("loket import receivables", loket)):
        print(f"{name:<36}{figures['seconds']:>9.2f}{args.rows / figures['seconds']:>12,.0f}")
    print(f"peak memory of the children (max RSS): {loket['max_rss_mib']} MiB")
    print(f"loket said: {loket['stdout'].strip()}; progress: "
          f"{json.dumps(loket['stderr'].strip().splitlines()[-1:])}")
    print(f"ratio loket / bare: {loket['seconds'] / bare['seconds']:.1f}x")


if __name__ == "__main__":
    main()
