"""Checkout at a fixed rate (open loop): consumers POST ``/v1/me/checkout`` (sandbox
gateway, one bill each, a fresh Idempotency-Key per request) at 100/s, then at 200/s
(about twice what 2 workers can take). The baseline is a bare Falcon endpoint at the same
rates. Figures: achieved checkouts/s, latency of the successful ones (from when each was
due), refusals (503/429 with Retry-After) and how fast they came, requests that got no
answer at all (timeouts), and server CPU per checkout.
"""

from __future__ import annotations

import json
import uuid

from benchmarks.loadgen import Request, open_loop, percentile
from benchmarks.registry import Trial, Workload
from benchmarks.servers import Meter
from benchmarks.workloads.common import figures, import_bills


def setup(bench) -> list[Trial]:
    """Consumers with a bill each, and a consumer token per consumer."""
    from loket.core.tenants import TokenSigner  # noqa: PLC0415

    side = bench.loket()
    duration = 10 if bench.quick else 30
    pairs = import_bills(side.ctx, side.tenant_id, "CO", 2000)
    signer = TokenSigner.for_keys(side.ctx.config.secret_keys)
    tokens = [signer.consumer_token(side.tenant_id, account, 24 * 3600)
              for account, _ in pairs]

    def make(i: int) -> Request:
        account, bill = pairs[i % len(pairs)]
        body = json.dumps({"gateway": "sandbox",
                           "items": [{"kind": "bill", "reference": bill}]}).encode()
        return Request("POST", "/v1/me/checkout", body, {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {tokens[i % len(tokens)]}",
            "Idempotency-Key": uuid.uuid4().hex})

    def bare(i: int) -> Request:
        return Request("POST", "/checkout", b"{}", {"Content-Type": "application/json"})

    def run(rate: int, server, database, requests) -> dict:
        with Meter(server, database) as meter:
            outcome = open_loop(server.url, requests, rate, duration,
                                timeout=10 if bench.quick else 30)
        out = figures(outcome, meter, "checkout")
        out["timeouts"] = outcome.statuses.get(0, 0)
        out["refused p99 ms"] = percentile(outcome.refused_latencies_ns, 0.99) / 1e6
        return out

    trials = []
    for rate in (100, 200):
        def run_loket(rate: int = rate) -> dict:
            return run(rate, side.server, side.database, make)

        def run_bare(rate: int = rate) -> dict:
            server, _ = bench.baseline("bare")
            return run(rate, server, None, bare)

        if rate == 100:
            goal, met = "p99 < 50 ms, no timeouts", (
                lambda lo, base: lo["p99 ms"] < 50 and lo["timeouts"] == 0)
        else:
            goal, met = "no timeouts; refusals fast (p99 < 1 s)", (
                lambda lo, base: lo["timeouts"] == 0 and lo["refused p99 ms"] < 1000)
        trials.append(Trial(
            name=f"checkout (sandbox), open loop {rate}/s for {duration} s", loket=run_loket,
            baseline=run_bare, baseline_name="bare Falcon", ratio_of="checkout/s",
            goal=goal, met=met))
    return trials


WORKLOAD = Workload("checkout", setup, order=20,
                    description="checkout at 100/s and 200/s (open loop) vs bare Falcon")
