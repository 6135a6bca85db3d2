"""Host data at scale: ``loket import receivables FILE`` (the CLI, progress bar and
start-up included) of 1,000,000 bills (100,000 with ``--quick``) over 200,000 accounts,
every row validated and upserted. The baseline is a bare ``COPY`` of the same file into an
unindexed table of text columns. Each round imports a file of new bills.
"""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks import bench_import as imp
from benchmarks.registry import Trial, Workload

GOAL_ROWS_PER_S = 1_000_000 / 60  # a million rows in under a minute


def setup(bench) -> list[Trial]:
    """Migrate a database of its own, create the tenant, write one file per round."""
    rows = 100_000 if bench.quick else 1_000_000
    database = bench.database("loket_bench_imp")
    workdir = bench.workdir / "imports"
    workdir.mkdir(exist_ok=True)
    imp.prepare(database.url, workdir)
    files = []
    for round_ in range(bench.rounds):
        path = workdir / f"receivables-{round_}.csv"
        imp.write_csv(path, rows, min(200_000, rows), first=round_ * rows)
        files.append(path)
    queues = {"loket": iter(files), "copy": iter(files)}
    env = imp.env_for(database.url, workdir, None)

    def run_loket() -> dict:
        out = imp.timed([sys.executable, "-m", "loket.cli", "import", "receivables",
                         str(next(queues["loket"])), "--tenant", "bench", "--quiet"],
                        env, workdir)
        return {"rows/s": rows / out["seconds"], "seconds": out["seconds"]}

    def run_copy() -> dict:
        out = imp.timed([sys.executable, str(Path(imp.__file__).resolve()),
                         "--baseline-child", database.url, str(next(queues["copy"]))],
                        env, workdir)
        return {"rows/s": rows / out["seconds"], "seconds": out["seconds"]}

    return [Trial(
        name=f"import {rows:,} receivables (CLI)", loket=run_loket, baseline=run_copy,
        baseline_name="bare COPY of the file", ratio_of="rows/s",
        goal="1M rows in under a minute (16,667 rows/s)",
        met=lambda lo, base: lo["rows/s"] >= GOAL_ROWS_PER_S)]


WORKLOAD = Workload("imports", setup, order=45,
                    description="loket import receivables vs a bare COPY")
