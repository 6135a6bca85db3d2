"""Per-tenant numbers: formats, configurable start, yearly restart, and no duplicate or gap
under 16 concurrent writers on PostgreSQL."""

import datetime as dt
import threading

from support.engine import ACTOR

from loket.core.numbering import next_number, next_of_each, render
from loket.core.tenants import create_tenant


def test_formats_render():
    day = dt.date(2026, 3, 9)
    assert render("PAY-{yyyy}-{seq:06}", 42, day) == "PAY-2026-000042"
    assert render("TXN-{yy}{mm}-{seq:04}", 7, day) == "TXN-2603-0007"
    assert render("R-{seq}", 1234567, day) == "R-1234567"


def test_sequence_starts_where_configured_and_restarts_each_year(ctx):
    with ctx.transaction() as session:
        tenant = create_tenant(session, ACTOR, "n1", "N1")
        fmt = {"format": "CN-{seq}", "start": 500}
        yearly = {"format": "PAY-{yyyy}-{seq:06}"}
        d1, d2 = dt.date(2025, 12, 31), dt.date(2026, 1, 1)
        assert [next_number(session, tenant.id, "credit_note", fmt, d1) for _ in range(3)] == \
            ["CN-500", "CN-501", "CN-502"]
        assert next_number(session, tenant.id, "payment", yearly, d1) == "PAY-2025-000001"
        assert next_number(session, tenant.id, "payment", yearly, d1) == "PAY-2025-000002"
        assert next_number(session, tenant.id, "payment", yearly, d2) == "PAY-2026-000001"
        other = create_tenant(session, ACTOR, "n2", "N2")
        assert next_number(session, other.id, "credit_note", fmt, d1) == "CN-500"


def test_a_rolled_back_transaction_gives_its_number_back(ctx):
    with ctx.transaction() as session:
        tenant_id = create_tenant(session, ACTOR, "n1", "N1").id
    fmt = {"format": "R-{seq}"}
    try:
        with ctx.transaction() as session:
            assert next_number(session, tenant_id, "receipt", fmt, dt.date.today()) == "R-1"
            raise RuntimeError("failure half-way")
    except RuntimeError:
        pass
    with ctx.transaction() as session:
        assert next_number(session, tenant_id, "receipt", fmt, dt.date.today()) == "R-1"


def test_next_of_each_takes_one_number_of_each_sequence_where_it_stands(ctx):
    formats = {"payment": {"format": "PAY-{yyyy}-{seq:06}"},
               "transaction": {"format": "TXN-{seq}", "start": 900}}
    day = dt.date(2026, 3, 9)
    with ctx.transaction() as session:
        tenant_id = create_tenant(session, ACTOR, "n1", "N1").id
        assert next_number(session, tenant_id, "payment", formats["payment"], day) == \
            "PAY-2026-000001"
        assert next_of_each(session, tenant_id, formats, day) == {
            "payment": "PAY-2026-000002", "transaction": "TXN-900"}
        assert next_of_each(session, tenant_id, formats, day) == {
            "payment": "PAY-2026-000003", "transaction": "TXN-901"}
        assert next_number(session, tenant_id, "transaction", formats["transaction"], day) \
            == "TXN-902"


def test_sixteen_concurrent_writers_on_postgres_get_unique_gapless_numbers(pg_ctx):
    with pg_ctx.transaction() as session:
        tenant_id = create_tenant(session, ACTOR, "n1", "N1").id
    fmt = {"format": "PAY-{yyyy}-{seq:06}"}
    taken = _from_threads(pg_ctx, 16, 10, lambda session: next_number(
        session, tenant_id, "payment", fmt, dt.date(2026, 1, 1)))
    assert len(taken) == len(set(taken)) == 160
    assert sorted(taken) == [f"PAY-2026-{n:06d}" for n in range(1, 161)]


def test_concurrent_pairs_on_postgres_never_deadlock_and_leave_no_gap(pg_ctx):
    """Checkouts take a payment and a transaction number in one statement each: taken
    together from 8 threads, every pair is unique and the numbers gapless."""
    with pg_ctx.transaction() as session:
        tenant_id = create_tenant(session, ACTOR, "n1", "N1").id
    formats = {"payment": {"format": "P-{seq}"}, "transaction": {"format": "T-{seq}"}}
    taken = _from_threads(pg_ctx, 8, 10, lambda session: next_of_each(
        session, tenant_id, formats, dt.date(2026, 1, 1)))
    assert sorted(int(p["payment"][2:]) for p in taken) == list(range(1, 81))
    assert sorted(int(p["transaction"][2:]) for p in taken) == list(range(1, 81))


def _from_threads(ctx, threads: int, rounds: int, take) -> list:
    """What ``take(session)`` returned, each call in a transaction of its own, ``rounds``
    calls on each of ``threads`` threads started together."""
    taken: list = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def writer():
        barrier.wait()
        for _ in range(rounds):
            with ctx.transaction() as session:
                value = take(session)
            with lock:
                taken.append(value)

    running = [threading.Thread(target=writer) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    return taken
