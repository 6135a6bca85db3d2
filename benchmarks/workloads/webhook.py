"""Webhook ingest: Stripe-signed ``payment_intent.succeeded`` events, each naming a payment
loket started, POSTed by 4 clients in a closed loop. loket verifies, stores and applies
each (the payment succeeds, its bill is paid); the baseline verifies the signature with the
same SDK and INSERTs the body. Figures: events/s, latency, server CPU and PostgreSQL
transactions per event, and loket's received-to-applied lag.

A second trial runs loket with ``LOKET_WEBHOOK_APPLY=deferred`` (answered once stored; a
``loket worker`` applies the events in batches): its CPU figure counts the worker too (also
printed alone: it applies the events and sends what they owe others, the host events and
the payers' messages, which the inline trial leaves queued), and its lag is read once every
event of the round is applied. The worker is started for each round and measured from
the moment it consumes (a deployed worker runs all the time: its start-up, a second of
imports, is no part of an event's cost or lag).

A third trial sends deferred webhooks at a fixed rate below what the machine keeps up with
(:data:`FIXED_RATE`), beside the baseline at the same rate: the closed loops saturate both
cores, so their lag is mostly the wait for a core; this one's is the lag while keeping up.
"""

from __future__ import annotations

import time

from sqlalchemy import text

from benchmarks.loadgen import Request, closed_loop, open_loop
from benchmarks.registry import Trial, Workload
from benchmarks.servers import Meter, Server, Together, Worker
from benchmarks.workloads.common import checkouts, figures, import_bills

CLIENTS = 4
FIXED_RATE = 150
"""Events per second of the fixed-rate trial: about two thirds of what deferred apply
reaches in a closed loop on 2 cores."""


def setup(bench) -> list[Trial]:
    """Start the payments (Stripe emulator) whose success events the rounds deliver."""
    from loket.core.gateway_configs import configs  # noqa: PLC0415
    from loket.core.models import GatewayConfiguration  # noqa: PLC0415

    side = bench.loket()
    per_round = 300 if bench.quick else 1500
    duration = 4 if bench.quick else 15
    per_fixed = FIXED_RATE * duration
    events = _paid(side, "WH", per_round * bench.rounds)
    later = _paid(side, "WD", per_round * bench.rounds)
    fixed = _paid(side, "WF", per_fixed * bench.rounds)
    with side.ctx.transaction() as session:
        row = session.query(GatewayConfiguration).filter_by(
            tenant_id=side.tenant_id, kind="stripe").one()
        path = configs.webhook_path(row)
    batches = [events[i * per_round:(i + 1) * per_round] for i in range(bench.rounds)]
    deferred_batches = [later[i * per_round:(i + 1) * per_round] for i in range(bench.rounds)]
    fixed_batches = [fixed[i * per_fixed:(i + 1) * per_fixed] for i in range(bench.rounds)]
    rounds = {"loket": iter(batches), "baseline": iter(batches),
              "deferred": iter(deferred_batches), "deferred-baseline": iter(deferred_batches),
              "fixed": iter(fixed_batches), "fixed-baseline": iter(fixed_batches)}

    def closed(url: str, batch: list, target: str):
        return closed_loop(url, requests_for(batch, target), CLIENTS)

    def at_fixed_rate(url: str, batch: list, target: str):
        return open_loop(url, requests_for(batch, target), FIXED_RATE, duration, timeout=10)

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
            outcome = closed(side.server.url, batch, path)
        out = figures(outcome, meter, "event")
        out.update(_lag(side, [e["id"] for e in batch]))
        return out

    def run_baseline(name: str = "baseline", load=closed):
        batch = next(rounds[name])
        server, database = bench.baseline("verify-insert")
        with Meter(server, database) as meter:
            outcome = load(server.url, batch, "/webhook")
        return figures(outcome, meter, "event")

    deferred: dict = {}

    def run_deferred(name: str = "deferred", load=closed):
        if not deferred:
            deferred.update(_deferred_loket(bench, side))
        batch = next(rounds[name])
        # A worker for this run only: left running, it would go on delivering the outbox
        # and take CPU from the workloads measured after this one.
        worker = Worker(deferred["env"], bench.workdir)
        try:
            worker.wait_ready()
            with Meter(Together(deferred["server"], worker), side.database) as meter, \
                    Meter(worker, None) as worker_meter:
                outcome = load(deferred["server"].url, batch, path)
                applied = _wait_applied(side, [e["id"] for e in batch])
        finally:
            worker.stop()
        out = figures(outcome, meter, "event")
        out["of it worker CPU ms/event"] = worker_meter.cpu / 1e6 / max(outcome.ok, 1)
        out.update(_lag(side, [e["id"] for e in batch]))
        out["applied"] = float(applied)
        return out

    return [Trial(
        name=f"Stripe webhook, verify + store + apply, closed loop {CLIENTS} clients",
        loket=run_loket, baseline=run_baseline, baseline_name="Falcon + verify + INSERT",
        ratio_of="event/s", goal="ratio ≥ 0.5, ≤ 3 tx/event, lag p99 < 100 ms",
        met=lambda lo, base: bool(base) and lo["event/s"] >= 0.5 * base["event/s"]
        and lo.get("tx/event", 99) <= 3 and lo.get("lag p99 ms", 1e9) < 100), Trial(
        name=f"Stripe webhook, acknowledged then applied by the worker (deferred), closed "
             f"loop {CLIENTS} clients",
        loket=run_deferred, baseline=lambda: run_baseline("deferred-baseline"),
        baseline_name="Falcon + verify + INSERT", ratio_of="event/s",
        goal="ratio ≥ 0.5, ≤ 3 tx/event, lag p99 < 100 ms",
        met=lambda lo, base: bool(base) and lo["event/s"] >= 0.5 * base["event/s"]
        and lo.get("tx/event", 99) <= 3 and lo.get("lag p99 ms", 1e9) < 100), Trial(
        name=f"Stripe webhook, deferred, at a fixed {FIXED_RATE} events/s",
        loket=lambda: run_deferred("fixed", at_fixed_rate),
        baseline=lambda: run_baseline("fixed-baseline", at_fixed_rate),
        baseline_name="Falcon + verify + INSERT", ratio_of="CPU ms/event",
        goal="keeps up, lag p99 < 100 ms",
        met=lambda lo, base: lo["event/s"] >= 0.95 * FIXED_RATE and not lo["refused"]
        and lo.get("lag p99 ms", 1e9) < 100)]


def _paid(side, prefix: str, count: int) -> list[dict]:
    """``count`` Stripe payments started and paid at the emulator; their success events."""
    pairs = import_bills(side.ctx, side.tenant_id, prefix, count)
    events = []
    for payment in checkouts(side.ctx, side.tenant_id, "stripe", pairs):
        emitted = side.emulator.pay(payment.gateway_reference)
        events.append(next(e for e in emitted if e["type"] == "payment_intent.succeeded"))
    return events


def _deferred_loket(bench, side) -> dict:
    """A second loket server on the same database with deferred apply (and the environment
    its worker runs with)."""
    env = {k: v for k, v in side.env.items() if k.startswith("LOKET_")}
    env.update({"LOKET_WEBHOOK_APPLY": "deferred", "LOKET_BASE_URL": "http://127.0.0.1"})
    server = Server("loket-deferred", "loket.server.app:get_app()", env, bench.workdir,
                    config="python:loket.server.gunicorn_conf")
    bench.on_close(server.stop)
    server.wait_ready()
    return {"server": server, "env": env}


def _wait_applied(side, event_ids: list[str], timeout: float = 300) -> int:
    """Wait until the worker has applied every event of these that loket stored (a request
    refused at a fixed rate is not sent again), or ``timeout``; how many it applied."""
    deadline = time.monotonic() + timeout
    while True:
        with side.database.engine.connect() as connection:
            pending, done = connection.execute(text(
                "SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE "
                "status <> 'pending') FROM gateway_events WHERE event_id = ANY(:ids)"),
                {"ids": event_ids}).one()
        if not pending or time.monotonic() > deadline:
            return int(done)
        time.sleep(0.05)


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
