"""Webhook ingest: Stripe-signed ``payment_intent.succeeded`` events, each naming a payment
loket started, POSTed by 4 clients in a closed loop. loket verifies, stores and applies
each (the payment succeeds, its bill is paid); the baseline verifies the signature with the
same SDK and INSERTs the body. Figures: events/s, latency, server CPU and PostgreSQL
transactions per event, and loket's received-to-applied lag.
"""

from __future__ import annotations

from sqlalchemy import text

from benchmarks.loadgen import Request, closed_loop
from benchmarks.registry import Trial, Workload
from benchmarks.servers import Meter
from benchmarks.workloads.common import checkouts, figures, import_bills

CLIENTS = 4


def setup(bench) -> list[Trial]:
    """Start the payments (Stripe emulator) whose success events the rounds deliver."""
    from loket.core.gateway_configs import configs  # noqa: PLC0415
    from loket.core.models import GatewayConfiguration  # noqa: PLC0415

    side = bench.loket()
    per_round = 300 if bench.quick else 1500
    pairs = import_bills(side.ctx, side.tenant_id, "WH", per_round * bench.rounds)
    payments = checkouts(side.ctx, side.tenant_id, "stripe", pairs)
    events = []
    for payment in payments:
        emitted = side.emulator.pay(payment.gateway_reference)
        events.append(next(e for e in emitted if e["type"] == "payment_intent.succeeded"))
    with side.ctx.transaction() as session:
        row = session.query(GatewayConfiguration).filter_by(
            tenant_id=side.tenant_id, kind="stripe").one()
        path = configs.webhook_path(row)
    batches = [events[i * per_round:(i + 1) * per_round] for i in range(bench.rounds)]
    rounds = {"loket": iter(batches), "baseline": iter(batches)}

    def requests_for(batch: list, target: str):
        def make(i: int) -> Request | None:
            if i >= len(batch):
                return None
            body, headers = side.emulator.signed(batch[i])
            return Request("POST", target, body, headers)
        return make

    def run_loket():
        batch = next(rounds["loket"])
        with Meter(side.server, side.database) as meter:
            outcome = closed_loop(side.server.url, requests_for(batch, path), CLIENTS)
        out = figures(outcome, meter, "event")
        out.update(_lag(side, [e["id"] for e in batch]))
        return out

    def run_baseline():
        batch = next(rounds["baseline"])
        server, database = bench.baseline("verify-insert")
        with Meter(server, database) as meter:
            outcome = closed_loop(server.url, requests_for(batch, "/webhook"), CLIENTS)
        return figures(outcome, meter, "event")

    return [Trial(
        name=f"Stripe webhook, verify + store + apply, closed loop {CLIENTS} clients",
        loket=run_loket, baseline=run_baseline, baseline_name="Falcon + verify + INSERT",
        ratio_of="event/s", goal="ratio ≥ 0.5, ≤ 3 tx/event, lag p99 < 100 ms",
        met=lambda lo, base: bool(base) and lo["event/s"] >= 0.5 * base["event/s"]
        and lo.get("tx/event", 99) <= 3 and lo.get("lag p99 ms", 1e9) < 100)]


def _lag(side, event_ids: list[str]) -> dict:
    """Received-to-applied lag of these events (p99, ms) and how many were applied."""
    with side.database.engine.connect() as connection:
        row = connection.execute(text(
            "SELECT count(*) FILTER (WHERE status = 'processed'), "
            "percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM "
            "processed_at - received_at)) FROM gateway_events WHERE event_id = ANY(:ids)"),
            {"ids": event_ids}).one()
    return {"applied": float(row[0]), "lag p99 ms": float(row[1] or 0) * 1000}


WORKLOAD = Workload("webhook", setup, order=10,
                    description="Stripe-signed webhooks vs Falcon + verify + INSERT")
