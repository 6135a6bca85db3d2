"""Month-end reconciliation: a DOKU settlement report of 1,000,000 lines (100,000 with
``--quick``) against as many payments, end to end (the DOKU plugin parses the file, the
lines complete their payments, the unmatched ones become to-dos, committed), each side in a
child process of its own. The baseline is polars reading the same report and the payments
(``COPY … TO STDOUT``) and joining them. Each round reconciles a report of its own (a
settled payment is not settled twice). Figures: lines/s, seconds, CPU seconds (the process
and its PostgreSQL backend, and the backend's alone) and peak memory.
"""

from __future__ import annotations

from benchmarks import bench_reconciliation as rec
from benchmarks.registry import Trial, Workload

UNMATCHED = 0.001
GOAL_LINES_PER_S = 200_000  # a million lines in 5 s
GOAL_RSS_MIB = 1024


def setup(bench) -> list[Trial]:
    """Seed every round's payments at once (COPY) and write one report per round."""
    lines = 100_000 if bench.quick else 1_000_000
    database = bench.database("loket_bench_rec")
    workdir = bench.workdir / "reconciliation"
    workdir.mkdir(exist_ok=True)
    tenant_id, key = rec.seed(database.url, workdir, lines * bench.rounds, 10_000)
    reports = []
    for round_ in range(bench.rounds):
        path = workdir / f"report-{round_}.csv"
        rec.write_report(path, lines, UNMATCHED, first=round_ * lines)
        reports.append(path)
    queues = {"loket": iter(reports), "polars": iter(reports)}

    def side(kind: str):
        def run() -> dict:
            out = rec.spawn(kind, database.url, workdir, key, tenant_id,
                            report=next(queues[kind]))
            return {"lines/s": lines / out["seconds"], "seconds": out["seconds"],
                    "CPU s": out["cpu"], "of it PostgreSQL s": out["server_cpu"],
                    "max RSS MiB": float(out["max_rss_mib"])}
        return run

    return [Trial(
        name=f"settlement report, {lines:,} lines against {lines * bench.rounds:,} payments",
        loket=side("loket"), baseline=side("polars"), baseline_name="polars read + join",
        ratio_of="lines/s",
        goal="1M lines in ≤ 5 s (200,000 lines/s), < 1 GiB, ratio ≥ 0.25 (within 4x)",
        met=lambda lo, base: bool(base) and lo["lines/s"] >= GOAL_LINES_PER_S
        and lo["max RSS MiB"] < GOAL_RSS_MIB and lo["lines/s"] >= 0.25 * base["lines/s"])]


WORKLOAD = Workload("reconciliation", setup, order=40,
                    description="a settlement report vs polars read + join")
