"""Run the benchmark suite and print a table per workload.

    python -m benchmarks.run [--quick] [--rounds N] [--only webhook,checkout] [--list]

Every workload's trials run ``rounds`` times, loket and its bare baseline alternated (the
order flips each round), and the table shows the median of each figure and the ratio
loket/baseline of the figure that matters. Figures are also written as JSON
(``--json``, default ``var/bench/latest.json``). Needs PostgreSQL on 127.0.0.1:5432
(``LOKET_BENCH_PG`` to change; throw-away databases are created and dropped).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

from benchmarks.env import Bench
from benchmarks.registry import Figures, Trial, discover

ROOT = Path(__file__).resolve().parents[1]


def _median(runs: list[Figures]) -> Figures:
    keys = [k for k in runs[0]] if runs else []
    return {k: statistics.median(r[k] for r in runs if k in r) for k in keys}


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _cell(figures: Figures | None) -> str:
    if not figures:
        return "—"
    return ", ".join(f"{_fmt(v)} {k}" for k, v in figures.items())


def summarize(trial: Trial) -> dict:
    """The medians of a trial, its ratio and whether its goal is met."""
    loket = _median(trial.results["loket"])
    base = _median(trial.results["baseline"]) if trial.results["baseline"] else None
    ratio = None
    if base and trial.ratio_of and base.get(trial.ratio_of):
        ratio = loket.get(trial.ratio_of, 0) / base[trial.ratio_of]
    met = trial.met(loket, base) if trial.met else None
    return {"trial": trial.name, "loket": loket, "baseline": base,
            "baseline_name": trial.baseline_name, "ratio_of": trial.ratio_of, "ratio": ratio,
            "goal": trial.goal, "met": met, "runs": trial.results}


def table(workload: str, rows: list[dict]) -> str:
    """A Markdown table of one workload's summaries."""
    out = [f"### {workload}", "",
           "| trial | loket (median) | bare baseline (median) | ratio | goal |",
           "|---|---|---|---|---|"]
    for row in rows:
        ratio = f"{row['ratio']:.2f} ({row['ratio_of']})" if row["ratio"] is not None else "—"
        goal = row["goal"] + ({True: " ✔", False: " ✘"}.get(row["met"], "")
                              if row["goal"] else "")
        base = (f"{row['baseline_name']}: {_cell(row['baseline'])}"
                if row["baseline"] else "—")
        out.append(f"| {row['trial']} | {_cell(row['loket'])} | {base} | {ratio} | {goal} |")
    return "\n".join(out)


def _header() -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**30
    return (f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, commit {commit}, "
            f"{os.cpu_count()} CPUs, {memory} GiB, Python {platform.python_version()}")


def _run_side(trial: Trial, side: str) -> None:
    runner = trial.loket if side == "loket" else trial.baseline
    if runner is None:
        return
    figures = runner()
    trial.results[side].append(figures)
    print(f"    {trial.name} [{side}]: {_cell(figures)}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``make bench``; returns the exit status (1 if a workload failed)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the short size (minutes)")
    parser.add_argument("--rounds", type=int, help="alternated rounds (default 3, quick 2)")
    parser.add_argument("--only", help="comma-separated workload names")
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory (server logs)")
    parser.add_argument("--json", default=str(ROOT / "var" / "bench" / "latest.json"))
    args = parser.parse_args(argv)
    workloads = discover()
    if args.list:
        for w in workloads:
            print(f"{w.name:16} {w.description}")
        return 0
    if args.only:
        wanted = set(args.only.split(","))
        workloads = [w for w in workloads if w.name in wanted]
    rounds = args.rounds or (2 if args.quick else 3)
    bench = Bench(args.quick, rounds)
    # A TERM (timeout, CI) still stops the servers and drops the databases.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    header = _header()
    print(f"loket benchmarks — {header}, {'quick' if args.quick else 'full'}, "
          f"{rounds} rounds", flush=True)
    report: dict = {"header": header, "quick": args.quick, "rounds": rounds, "workloads": {}}
    failed = False
    try:
        for workload in workloads:
            print(f"\n== {workload.name}: setting up", flush=True)
            started = time.monotonic()
            try:
                trials = workload.setup(bench)
                print(f"   set up in {time.monotonic() - started:.0f} s", flush=True)
                for round_ in range(rounds):
                    print(f"  round {round_ + 1}/{rounds}", flush=True)
                    for trial in trials:
                        sides = ["loket", "baseline"] if round_ % 2 == 0 else \
                            ["baseline", "loket"]
                        for side in sides:
                            _run_side(trial, side)
            except Exception:  # noqa: BLE001 - the other workloads still run
                traceback.print_exc()
                failed = True
                continue
            rows = [summarize(t) for t in trials]
            report["workloads"][workload.name] = rows
            print("\n" + table(workload.name, rows), flush=True)
    finally:
        bench.close()
        if not args.keep:
            shutil.rmtree(bench.workdir, ignore_errors=True)
    print(f"\n## loket benchmarks — {header}\n")
    for name, rows in report["workloads"].items():
        print(table(name, rows) + "\n")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=1, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
