"""Bulk data for the read benchmarks: ``payments`` payments (and a consumer per 5) for one
tenant, generated inside PostgreSQL (``INSERT … SELECT generate_series``), spread over the
last year with loket's mix of statuses, channels and methods. A million takes about a minute.

    python -m benchmarks.datagen DATABASE_URL TENANT_ID [--payments 1000000]
"""

from __future__ import annotations

import argparse
import time

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from loket.core.backoffice import tallies

CONSUMERS = """
INSERT INTO consumers (tenant_id, account_number, name, name_search, email, person_type,
                       created_at, account_status)
SELECT :tenant, account, name, lower(name), 'payer' || g || '@example.test', 'individual',
       now() - interval '400 days', 'active'
FROM (SELECT g, 'BK-' || lpad(g::text, 7, '0') AS account,
             (ARRAY['Siti','Budi','Agus','Dewi','Rina','Joko','Putri','Andi','Maya',
                    'Hadi'])[1 + g % 10] || ' ' ||
             (ARRAY['Santoso','Wijaya','Lestari','Pratama','Hidayat','Kusuma','Saputra',
                    'Halim','Nugroho','Rahman','Utomo','Gunawan'])[1 + (g / 10) % 12]
             || ' ' || g AS name
      FROM generate_series(1, :consumers) AS g) AS generated
"""

PAYMENTS = """
INSERT INTO payments (tenant_id, number, transaction_number, receipt_number, consumer_id,
    channel, method, payment_type, destination, status, verification, settlement_status,
    currency, amount, fee, fee_passed_on, amount_received, change_given, refunded,
    application_state, gateway_details, is_test, created_at, paid_at, updated_at, created_by)
SELECT :tenant, 'PB' || lpad(g::text, 8, '0'), 'TB' || lpad(g::text, 8, '0'),
       CASE WHEN g % 10 < 7 THEN 'RB' || lpad(g::text, 8, '0') END,
       (SELECT min(id) FROM consumers WHERE tenant_id = :tenant) + (g % :consumers),
       (ARRAY['online','counter','online','bank'])[1 + g % 4],
       (ARRAY['card','cash','va','card','qris'])[1 + g % 5],
       'bill', 'water',
       CASE WHEN g % 10 < 7 THEN 'posted' WHEN g % 10 = 7 THEN 'failed'
            WHEN g % 10 = 8 THEN 'initiated' ELSE 'completed' END,
       'unverified', 'N/A', 'USD', 1000 + g % 90000, 0, false, 1000 + g % 90000, 0, 0,
       'applied', '{}'::json, false,
       now() - (g::double precision / :payments) * interval '365 days',
       CASE WHEN g % 10 NOT IN (7, 8)
            THEN now() - (g::double precision / :payments) * interval '365 days' END,
       now(), 'bench'
FROM generate_series(1, :payments) AS g
"""


def generate(url: str, tenant_id: int, payments: int) -> float:
    """Insert the consumers and payments, fold the dashboard's tallies and ANALYZE; returns
    the seconds it took."""
    started = time.monotonic()
    engine = create_engine(url)
    consumers = max(payments // 5, 1)
    with engine.begin() as connection:
        connection.execute(text(CONSUMERS), {"tenant": tenant_id, "consumers": consumers})
        connection.execute(text(PAYMENTS), {"tenant": tenant_id, "consumers": consumers,
                                            "payments": payments})
    with Session(engine) as session, session.begin():
        # What the worker's periodic fold does within a minute of any write.
        tallies.fold(session)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in ("payments", "consumers", "payment_day_tallies", "payment_status_tallies",
                      "payment_tally_changes"):
            connection.execute(text(f"VACUUM ANALYZE {table}"))
    engine.dispose()
    return time.monotonic() - started


def main() -> None:
    """Command line: generate into an existing, migrated database."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("tenant_id", type=int)
    parser.add_argument("--payments", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"{args.payments} payments in {generate(args.url, args.tenant_id, args.payments):.0f} s")


if __name__ == "__main__":
    main()
