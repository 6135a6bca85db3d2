"""Benchmark: the least a settlement report can cost in PostgreSQL, whatever Python does.

    .venv/bin/python benchmarks/bench_settlement_floor.py [--lines 100000]

On a throw-away PostgreSQL database it writes N succeeded DOKU payments and an N-line DOKU
settlement report (as ``bench_reconciliation.py`` does), then writes, set-based and in one
transaction, only what a settled line must write under the outbox rule (a change that must
reach the host is written in the same transaction as the money): the payment's settled
facts (one ``UPDATE … FROM`` the report, copied into a staging table), its settlement
record and one host event (``INSERT … SELECT``). No audit row, message, tracking event or
receipt counter: what loket writes besides these only adds to it. Prints seconds per step;
asserts nothing. Compare with ``bench_reconciliation.py --lines N`` (loket end to end) and
the goal of 5 s for 1,000,000 lines.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import bench_reconciliation as reconciliation  # noqa: E402

STEPS = (
    ("index the report", "CREATE INDEX ON staging (invoice); ANALYZE staging"),
    ("UPDATE payments (settled facts)", """
        UPDATE payments p SET status = 'completed', completed_at = s.settled_at,
          settlement_status = 'Success', payout_reference = s.batch,
          settled_fee = (s.fee + s.tax) * 100, settled_net = s.net * 100,
          receipt_number = 'RCP-' || p.id
        FROM staging s WHERE p.tenant_id = %(tenant)s AND p.number = s.invoice"""),
    ("INSERT settlements", """
        INSERT INTO settlements (tenant_id, gateway_configuration_id, payment_id,
          gateway_reference, payout_reference, amount, fee, net, currency, matched,
          settled_at, created_at)
        SELECT p.tenant_id, p.gateway_configuration_id, p.id, p.gateway_reference, s.batch,
          p.amount_received, p.settled_fee, p.settled_net, p.currency, true, s.settled_at,
          now()
        FROM staging s JOIN payments p ON p.tenant_id = %(tenant)s AND p.number = s.invoice"""),
    ("INSERT outbox_events (a host event each)", """
        INSERT INTO outbox_events (tenant_id, event_id, kind, type, ordering_key, payload,
          created_at)
        SELECT p.tenant_id, 'evt_' || p.id, 'host_event', 'payment.completed',
          'payment:' || p.number, jsonb_build_object('type', 'payment.completed', 'data',
            jsonb_build_object('number', p.number, 'amount', p.amount_received,
              'currency', p.currency, 'receipt_number', p.receipt_number)), now()
        FROM staging s JOIN payments p ON p.tenant_id = %(tenant)s AND p.number = s.invoice"""),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="loket-bench-floor-") as tmp:
        workdir = Path(tmp)
        url, cleanup = reconciliation._database(False, workdir)
        try:
            tenant_id, _key = reconciliation.seed(url, workdir, args.lines, 10_000)
            report = workdir / "report.csv"
            reconciliation.write_report(report, args.lines, 0.0)
            _measure(url, report, tenant_id, args.lines)
        finally:
            cleanup()


def _measure(url: str, report: Path, tenant_id: int, lines: int) -> None:
    engine = create_engine(url)
    raw = engine.raw_connection()
    cursor = raw.cursor()
    started = time.perf_counter()
    cursor.execute("CREATE TEMP TABLE staging (invoice text, amount bigint, fee bigint, "
                   "tax bigint, net bigint, settled_at timestamptz, batch text, channel text)")
    with cursor.copy("COPY staging FROM STDIN WITH (FORMAT csv, HEADER)") as copy, \
            report.open("rb") as source:
        while chunk := source.read(1 << 20):
            copy.write(chunk)
    print(f"{lines:,} lines against {lines:,} payments")
    print(f"{'COPY the report':<42}{time.perf_counter() - started:>8.2f} s")
    for name, sql in STEPS:
        step = time.perf_counter()
        cursor.execute(sql, {"tenant": tenant_id})
        print(f"{name:<42}{time.perf_counter() - step:>8.2f} s")
    step = time.perf_counter()
    raw.commit()
    print(f"{'COMMIT':<42}{time.perf_counter() - step:>8.2f} s")
    total = time.perf_counter() - started
    print(f"{'total':<42}{total:>8.2f} s  ({total / lines * 1e6:.0f} us a line)")
    raw.close()
    engine.dispose()


if __name__ == "__main__":
    main()
