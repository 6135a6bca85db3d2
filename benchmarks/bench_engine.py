"""Benchmarks of the engine: prints figures, asserts nothing.

    .venv/bin/python benchmarks/bench_engine.py [--postgres] [-n 200]

Measures, on a throw-away database: counter payments per second, online checkouts per
second (sandbox charge included), webhook deliveries applied per second (store, verify,
dedupe, apply), and the p50/p95 latency of each.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.engine import ACTOR, connect_sandbox, deliver, payer, start  # noqa: E402

from loket.core.config import AppConfig  # noqa: E402
from loket.core.context import Loket  # noqa: E402
from loket.core.db import make_engine  # noqa: E402
from loket.core.host import receivables
from loket.core.models import Base  # noqa: E402
from loket.core.payments.counter_payments import CounterPayment, record_counter_payment  # noqa: E402
from loket.core.secrets import SecretBox  # noqa: E402
from loket.core.tenants import create_tenant  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _container(postgres: bool, workdir: Path):
    if postgres:
        name = f"loket_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
        def cleanup() -> None:
            admin.connect().execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    else:
        url, cleanup = f"sqlite:///{workdir / 'bench.db'}", lambda: None
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    config = AppConfig(database_url=url, var_dir=workdir / "var", base_url="http://bench",
                       secret_keys=(SecretBox.generate_key(),))
    return Loket.create(config, engine=engine), cleanup


def _seed(ctx, n: int) -> int:
    with ctx.transaction() as session:
        tenant_id = create_tenant(session, ACTOR, "bench", "Bench", {"currency": "USD"}).id
        for i in range(n):
            receivables.upsert_consumer(session, ACTOR, tenant_id,
                                        {"account_number": f"A{i}", "name": f"Payer {i}"})
            for kind in ("bill", "service"):
                receivables.upsert_receivable(session, ACTOR, tenant_id, {
                    "account_number": f"A{i}", "kind": kind, "reference": f"{kind}-{i}",
                    "amount": "100.00"})
    return tenant_id


def _timed(label: str, n: int, action) -> None:
    latencies = []
    started = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        action(i)
        latencies.append((time.perf_counter() - t0) * 1000)
    total = time.perf_counter() - started
    latencies.sort()
    print(f"{label:<28} {n / total:8.1f}/s   p50 {statistics.median(latencies):6.2f} ms   "
          f"p95 {latencies[int(len(latencies) * 0.95) - 1]:6.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("-n", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        ctx, cleanup = _container(args.postgres, Path(workdir))
        try:
            tenant_id = _seed(ctx, args.n)
            connect_sandbox(ctx, tenant_id)
            print(f"backend: {ctx.engine.dialect.name}, {args.n} operations each")

            def counter(i):
                with ctx.transaction() as session:
                    record_counter_payment(ctx, session, ACTOR, tenant_id, CounterPayment(
                        account_number=f"A{i}", payment_type="bill", method="cash",
                        amount_received="120.00", change_given="20.00",
                        paid_on=ctx.now().date().isoformat()))

            payments = []
            _timed("counter payment (cash)", args.n, counter)
            _timed("online checkout (sandbox)", args.n, lambda i: payments.append(
                start(ctx, tenant_id, [("service", f"service-{i}")], account=f"A{i}")))
            webhooks = [payer(ctx, p, "pay") for p in payments]
            _timed("webhook applied", args.n, lambda i: deliver(ctx, webhooks[i]))
            _timed("duplicate webhook", args.n, lambda i: deliver(ctx, webhooks[i]))
        finally:
            ctx.engine.dispose()
            cleanup()


if __name__ == "__main__":
    main()
