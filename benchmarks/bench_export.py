"""Benchmark of the streamed payments export: prints figures, asserts nothing.

    .venv/bin/python benchmarks/bench_export.py [--postgres] [-n 100000] [--kpis]

Loads ``n`` payments with one bulk insert per 10,000, then streams the CSV export exactly as
``GET /v1/payments/export`` does (database cursor in batches -> CSV chunks) and reports the
Python heap's peak (tracemalloc) and the rows per second, for n/10 and for n rows: a
streamed export keeps the same peak whatever the number of rows. The bare baseline beside it
loads the same rows into a list first, as a non-streamed export would. With ``--kpis`` it
also times ``kpis()`` and a daily trend over the loaded payments.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

from sqlalchemy import create_engine, insert, text

from loket.core import audit
from loket.core.backoffice import exports, kpis, trends
from loket.core.backoffice.queries import PaymentFilters
from loket.core.config import AppConfig
from loket.core.context import Loket
from loket.core.db import make_engine
from loket.core.host import receivables
from loket.core.models import Base, Payment
from loket.core.secrets import SecretBox
from loket.core.tenants import create_tenant

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
ACTOR = audit.Actor("bench", "tenant_admin")


def _container(postgres: bool, workdir: Path):
    if postgres:
        name = f"loket_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"

        def cleanup() -> None:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    else:
        url = f"sqlite:///{workdir / 'bench.db'}"

        def cleanup() -> None:
            return None
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    config = AppConfig(database_url=url, var_dir=workdir / "var", base_url="http://bench",
                       secret_keys=(SecretBox.generate_key(),))
    return Loket.create(config, engine=engine), cleanup


def _load(ctx: Loket, n: int) -> int:
    with ctx.transaction() as session:
        tenant_id = create_tenant(session, ACTOR, "bench", "Bench", {"currency": "USD"}).id
        consumer = receivables.upsert_consumer(session, ACTOR, tenant_id,
                                               {"account_number": "A1", "name": "Payer One"})
        consumer_id = consumer.id
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    rng = random.Random(7)
    for first in range(0, n, 10_000):
        rows = []
        for i in range(first, min(n, first + 10_000)):
            when = start + dt.timedelta(minutes=rng.randrange(0, 365 * 24 * 60))
            amount = rng.randrange(100, 500_000)
            rows.append({
                "tenant_id": tenant_id, "number": f"PAY-{i:08d}", "consumer_id": consumer_id,
                "transaction_number": f"TXN-{i:08d}", "receipt_number": f"R-{i}",
                "channel": rng.choice(("walk-in", "online", "kiosk")),
                "method": rng.choice(("cash", "card", "bank_transfer")),
                "payment_type": rng.choice(("bill", "service")), "status": "posted",
                "verification": "verified", "settlement_status": "N/A", "currency": "USD",
                "amount": amount, "fee": 0, "fee_passed_on": False, "amount_received": amount,
                "change_given": 0, "refunded": 0, "application_state": "applied",
                "gateway_details": {}, "is_test": False, "created_by": "bench",
                "created_at": when, "paid_at": when, "succeeded_at": when,
                "completed_at": when, "updated_at": when})
        with ctx.transaction() as session:
            session.execute(insert(Payment), rows)
    return tenant_id


def _stream(ctx: Loket, tenant_id: int) -> int:
    size = 0
    with ctx.transaction() as session:
        for chunk in exports.csv_chunks(exports.PAYMENT_COLUMNS, exports.payment_rows(
                session, tenant_id, PaymentFilters())):
            size += len(chunk)
    return size


def _load_first(ctx: Loket, tenant_id: int) -> int:
    with ctx.transaction() as session:
        rows = list(exports.payment_rows(session, tenant_id, PaymentFilters()))
        return len(b"".join(exports.csv_chunks(exports.PAYMENT_COLUMNS, rows)))


def _measure(run, ctx: Loket, tenant_id: int) -> tuple[int, int, float]:
    """``(peak heap, bytes, seconds)``: timed on its own, then run again under tracemalloc
    (which slows allocation) for the peak."""
    began = time.perf_counter()
    size = run(ctx, tenant_id)
    elapsed = time.perf_counter() - began
    tracemalloc.start()
    run(ctx, tenant_id)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, size, elapsed


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--kpis", action="store_true")
    args = parser.parse_args()
    backend = "PostgreSQL" if args.postgres else "SQLite"
    with tempfile.TemporaryDirectory() as workdir:
        for n in (args.n // 10, args.n):
            (Path(workdir) / str(n)).mkdir()
            ctx, cleanup = _container(args.postgres, Path(workdir) / str(n))
            try:
                tenant_id = _load(ctx, n)
                peak, size, elapsed = _measure(_stream, ctx, tenant_id)
                print(f"{backend} export of {n:>9,} payments: streamed peak heap "
                      f"{peak / 2**20:6.1f} MiB, {size / 2**20:6.1f} MiB of CSV, "
                      f"{n / elapsed:8,.0f} rows/s")
                base_peak, _, base_elapsed = _measure(_load_first, ctx, tenant_id)
                print(f"{'':>{len(backend)}} baseline (rows loaded first): peak heap "
                      f"{base_peak / 2**20:6.1f} MiB, {n / base_elapsed:8,.0f} rows/s")
                if args.kpis and n == args.n:
                    now = dt.datetime(2025, 12, 31, 12, tzinfo=dt.UTC)
                    with ctx.transaction() as session:
                        began = time.perf_counter()
                        kpis.kpis(session, tenant_id, now, month="2025-06")
                        middle = time.perf_counter()
                        trends.trends(session, tenant_id, now, interval="day",
                                      date_from=dt.date(2025, 1, 1),
                                      date_to=dt.date(2025, 12, 31))
                        done = time.perf_counter()
                    print(f"{'':>{len(backend)}} kpis(month) {1000 * (middle - began):.0f} ms, "
                          f"daily trend over a year {1000 * (done - middle):.0f} ms")
            finally:
                ctx.engine.dispose()
                cleanup()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
