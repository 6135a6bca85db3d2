"""Helpers the workloads share: bills to pay, checkouts made in-process, figures of a
load-generator outcome."""

from __future__ import annotations

import threading

from benchmarks.loadgen import Outcome, percentile
from benchmarks.registry import Figures
from benchmarks.servers import Meter

ACTOR_NAME = "bench"


def import_bills(ctx, tenant_id: int, prefix: str, count: int) -> list[tuple[str, str]]:
    """``count`` consumers with one bill each; returns ``[(account, bill reference)]``."""
    from loket.core import audit  # noqa: PLC0415
    from loket.core.host.imports import import_csv  # noqa: PLC0415

    lines = ["account_number,name,kind,reference,amount,period,due_date"]
    pairs = []
    for n in range(count):
        account, bill = f"{prefix}-{n:07d}", f"{prefix}B-{n:07d}"
        lines.append(f"{account},Payer {prefix} {n},bill,{bill},{10 + n % 90}.00,2026-11,"
                     f"2026-12-31")
        pairs.append((account, bill))
    with ctx.transaction() as session:
        import_csv(session, audit.Actor(ACTOR_NAME, "system"), tenant_id,
                   "\n".join(lines) + "\n")
    return pairs


def checkouts(ctx, tenant_id: int, gateway: str, pairs: list[tuple[str, str]],
              threads: int = 4) -> list:
    """Start a checkout for each (account, bill) in-process; returns the payments."""
    from loket.core import audit  # noqa: PLC0415
    from loket.core.payments import checkout  # noqa: PLC0415

    payments: list = [None] * len(pairs)
    work = list(enumerate(pairs))
    lock = threading.Lock()

    def run() -> None:
        while True:
            with lock:
                if not work:
                    return
                index, (account, bill) = work.pop()
            with ctx.transaction() as session:
                payments[index] = checkout.start_checkout(
                    ctx, session, audit.Actor(account, "consumer", account_number=account),
                    tenant_id, account, gateway, [{"kind": "bill", "reference": bill}])

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return payments


def figures(outcome: Outcome, meter: Meter | None, unit: str = "req") -> Figures:
    """The usual figures of a load-generator run: rate, latency quantiles, errors, and
    (with a meter) server CPU and database transactions per successful request."""
    ok = max(outcome.ok, 1)
    out: Figures = {f"{unit}/s": outcome.rate(),
                    "p50 ms": percentile(outcome.latencies_ns, 0.5) / 1e6,
                    "p99 ms": percentile(outcome.latencies_ns, 0.99) / 1e6}
    refused = sum(n for status, n in outcome.statuses.items() if status in (429, 503))
    out["refused"] = refused
    out["failed"] = outcome.total - outcome.ok - refused
    if meter is not None and meter.server is not None:
        out[f"CPU ms/{unit}"] = meter.cpu / 1e6 / ok
    if meter is not None and meter.database is not None:
        out[f"tx/{unit}"] = meter.tx / ok
    return out
