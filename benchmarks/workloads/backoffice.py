"""Back-office reads over a million payments (200,000 with ``--quick``) of one tenant:
``GET /v1/kpis`` (the dashboard), ``GET /v1/payments`` (the default list, newest first) and
payment searches by a name fragment and by a payment-number fragment, 2 clients in a closed
loop, after :data:`WARM_UP` unmeasured requests. The baseline is a bare Falcon GET. Figures:
requests/s and p50/p99 latency.
"""

from __future__ import annotations

from benchmarks.datagen import generate
from benchmarks.loadgen import Request, closed_loop
from benchmarks.registry import Trial, Workload
from benchmarks.servers import Meter
from benchmarks.workloads.common import figures

CLIENTS = 2
WARM_UP = 10
"""Requests sent before each measured run, not counted."""
READS = {
    "GET /v1/kpis": ("/v1/kpis", 30),
    "GET /v1/payments (default list)": ("/v1/payments", 50),
    "search by name fragment (?q=wijaya 12)": ("/v1/payments?q=wijaya%2012", 50),
    "search by number fragment (?q=B0004242)": ("/v1/payments?q=B0004242", 50),
}


def setup(bench) -> list[Trial]:
    """A tenant ``bulk`` with the payments, and a staff API key for it."""
    from loket.core import audit, tenants  # noqa: PLC0415

    side = bench.loket()
    actor = audit.Actor("bench", "system")
    with side.ctx.transaction() as session:
        tenant_id = tenants.create_tenant(session, actor, "bulk", "Bulk Water",
                                          {"currency": "USD"}).id
        key = tenants.create_api_key(session, actor, tenant_id, "cso_admin", "bench")
    payments = 200_000 if bench.quick else 1_000_000
    seconds = generate(side.database.url, tenant_id, payments)
    print(f"   {payments:,} payments generated in {seconds:.0f} s", flush=True)
    count = 200 if bench.quick else 400
    auth = {"Authorization": f"Bearer {key}"}

    def trial(name: str, path: str, goal_ms: int) -> Trial:
        def requests(target: str, how_many: int = count):
            return lambda i: Request("GET", target, None, auth) if i < how_many else None

        def measured(server) -> dict:
            # Unmeasured first: each server process prepares its statements once.
            closed_loop(server.url, requests(path, WARM_UP), CLIENTS)
            with Meter(server, None) as meter:
                outcome = closed_loop(server.url, requests(path), CLIENTS)
            return figures(outcome, meter)

        def run_loket() -> dict:
            return measured(side.server)

        def run_bare() -> dict:
            return measured(bench.baseline("bare")[0])

        return Trial(name=f"{name}, {payments:,} payments", loket=run_loket,
                     baseline=run_bare, baseline_name="bare Falcon GET", ratio_of="req/s",
                     goal=f"p99 ≤ {goal_ms} ms",
                     met=lambda lo, base: lo["p99 ms"] <= goal_ms and lo["failed"] == 0)

    return [trial(name, path, goal) for name, (path, goal) in READS.items()]


WORKLOAD = Workload("backoffice", setup, order=90,
                    description="KPIs, payment list and search over 1M payments")
