"""The dashboard's running tallies on PostgreSQL: whatever happens to payments (inserted one
by one or in bulk, states, amounts, refunds, test flags and channels changed, rows deleted,
folds in between or not, the tenant's time zone changed), the counts by status and the
money collected per local day read from the tallies equal a plain computation over the
payments as they stand."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, literal_column, select, update
from support.engine import ACTOR

from loket.core import settings as tenant_settings
from loket.core import tenants
from loket.core.backoffice import kpis, tallies
from loket.core.models import Payment, PaymentTallyChange
from loket.core.payments import lifecycle
from loket.errors import ValidationFailed

START = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
STATES = ("initiated", "succeeded", "completed", "posted", "failed", "refunded",
          "partially_refunded", "cancelled")
CHANNELS = ("walk-in", "online", "kiosk")
PICKED = {"status", "refund", "paid_at", "flags", "touch", "delete"}  # change one payment
_slugs = itertools.count()

new_payment = st.fixed_dictionaries({
    "hour": st.integers(0, 40 * 24), "received": st.integers(1, 1_000_000),
    "status": st.sampled_from(STATES), "is_test": st.booleans(),
    "channel": st.sampled_from(CHANNELS)})
operation = st.one_of(
    st.tuples(st.just("insert"), st.lists(new_payment, min_size=1, max_size=6)),
    st.tuples(st.just("status"), st.integers(0, 50), st.sampled_from(STATES)),
    st.tuples(st.just("refund"), st.integers(0, 50), st.integers(0, 100)),
    st.tuples(st.just("paid_at"), st.integers(0, 50), st.integers(0, 40 * 24)),
    st.tuples(st.just("flags"), st.integers(0, 50), st.booleans(), st.sampled_from(CHANNELS)),
    st.tuples(st.just("bulk"), st.sampled_from(STATES), st.sampled_from(STATES)),
    st.tuples(st.just("touch"), st.integers(0, 50)),
    st.tuples(st.just("delete"), st.integers(0, 50)),
    st.tuples(st.just("fold")),
)


def _tenant(ctx, zone: str = "Asia/Jakarta") -> int:
    with ctx.transaction() as session:
        return tenants.create_tenant(session, ACTOR, f"t{next(_slugs)}", "T", {
            "currency": "USD", "timezone": zone}).id


def _row(tenant_id: int, number: int, spec: dict) -> dict:
    when = START + dt.timedelta(hours=spec["hour"])
    return {"tenant_id": tenant_id, "number": f"P-{number}", "channel": spec["channel"],
            "method": "cash", "payment_type": "bill", "status": spec["status"],
            "currency": "USD", "amount": spec["received"], "fee": 0,
            "amount_received": spec["received"], "change_given": 0, "refunded": 0,
            "is_test": spec["is_test"], "gateway_details": {}, "created_at": when,
            "paid_at": when, "updated_at": when}


def _apply(ctx, tenant_id: int, op: tuple, numbers: itertools.count) -> None:
    """One change to the tenant's payments, through the statements loket's paths use."""
    kind = op[0]
    with ctx.transaction() as session:
        ids = session.scalars(select(Payment.id).where(Payment.tenant_id == tenant_id)
                              .order_by(Payment.id)).all()
        pick = ids[op[1] % len(ids)] if ids and kind in PICKED else None
        if kind == "insert":
            session.execute(insert(Payment), [_row(tenant_id, next(numbers), spec)
                                              for spec in op[1]])
        elif kind == "fold":
            tallies.fold(session)
        elif kind == "bulk":
            session.execute(update(Payment).where(Payment.tenant_id == tenant_id,
                                                  Payment.status == op[1])
                            .values(status=op[2]))
        elif pick is None:
            return
        elif kind == "status":
            session.get(Payment, pick).status = op[2]
        elif kind == "refund":
            payment = session.get(Payment, pick)
            payment.refunded = payment.amount_received * op[2] // 100
        elif kind == "paid_at":
            session.get(Payment, pick).paid_at = START + dt.timedelta(hours=op[2])
        elif kind == "flags":
            payment = session.get(Payment, pick)
            payment.is_test, payment.channel = op[2], op[3]
        elif kind == "touch":
            session.get(Payment, pick).notes = "seen"
        elif kind == "delete":
            session.execute(delete(Payment).where(Payment.id == pick))


def _plain(ctx, tenant_id: int, zone: str, first: dt.date, last: dt.date):
    """The figures computed in Python from the payments as they stand."""
    with ctx.transaction() as session:
        rows = session.scalars(select(Payment).where(Payment.tenant_id == tenant_id)).all()
        statuses: dict[str, int] = {}
        collected: dict[tuple, list[int]] = {}
        for p in rows:
            if not p.is_test:
                statuses[p.status] = statuses.get(p.status, 0) + 1
            day = p.paid_at.astimezone(ZoneInfo(zone)).date() if p.paid_at else None
            if (not p.is_test and p.status in lifecycle.MONEY_TAKEN and day
                    and first <= day <= last):
                figures = collected.setdefault((p.channel, p.method, p.payment_type), [0, 0])
                figures[0] += p.amount_received - p.change_given - p.refunded
                figures[1] += 1
    return statuses, {key: tuple(value) for key, value in collected.items()}


def _tallied(ctx, tenant_id: int, first: dt.date, last: dt.date):
    with ctx.transaction() as session:
        return (tallies.by_status(session, tenant_id),
                {(c, m, k): (net, count) for c, m, k, net, count in
                 tallies.collected(session, tenant_id, first, last)})


POSTED = {"hour": 5, "received": 1_000, "status": "posted", "is_test": False,
          "channel": "online"}


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
# Each kind of change at least once, on a payment that counts.
@example(ops=[("insert", [POSTED]), ("refund", 0, 50)], span=(0, 2))
@example(ops=[("insert", [POSTED]), ("fold",), ("status", 0, "failed")], span=(0, 2))
@example(ops=[("insert", [POSTED]), ("paid_at", 0, 24 * 5)], span=(0, 2))
@example(ops=[("insert", [POSTED]), ("fold",), ("flags", 0, True, "kiosk")], span=(0, 2))
@example(ops=[("insert", [POSTED, POSTED]), ("bulk", "posted", "refunded"),
              ("delete", 1)], span=(0, 2))
@given(ops=st.lists(operation, max_size=25), span=st.tuples(st.integers(0, 40),
                                                             st.integers(0, 40)))
def test_tallies_equal_the_payments_after_any_changes(pg_ctx, ops, span):
    tenant_id = _tenant(pg_ctx)
    numbers = itertools.count()
    for op in ops:
        _apply(pg_ctx, tenant_id, op, numbers)
    first = START.date() + dt.timedelta(days=min(span))
    last = START.date() + dt.timedelta(days=max(span))
    assert _tallied(pg_ctx, tenant_id, first, last) == _plain(
        pg_ctx, tenant_id, "Asia/Jakarta", first, last)
    with pg_ctx.transaction() as session:
        tallies.fold(session)
    assert _tallied(pg_ctx, tenant_id, first, last) == _plain(
        pg_ctx, tenant_id, "Asia/Jakarta", first, last)


def test_a_new_time_zone_moves_the_payments_to_their_new_local_days(pg_ctx):
    tenant_id = _tenant(pg_ctx, "Asia/Jakarta")
    # 20:00 UTC on 1 March: 2 March in Jakarta (UTC+7), 1 March in New York.
    spec = {"hour": 20, "received": 5_000, "status": "posted", "is_test": False,
            "channel": "online"}
    with pg_ctx.transaction() as session:
        session.execute(insert(Payment), [_row(tenant_id, 1, spec)])
        tallies.fold(session)
    march_1, march_2 = dt.date(2025, 3, 1), dt.date(2025, 3, 2)
    assert _tallied(pg_ctx, tenant_id, march_2, march_2)[1] == {
        ("online", "cash", "bill"): (5_000, 1)}
    with pg_ctx.transaction() as session:
        tenant_settings.update_settings(session, ACTOR, tenant_id,
                                        {"timezone": "America/New_York"})
    assert _tallied(pg_ctx, tenant_id, march_2, march_2)[1] == {}
    assert _tallied(pg_ctx, tenant_id, march_1, march_1) == _plain(
        pg_ctx, tenant_id, "America/New_York", march_1, march_1)
    with pg_ctx.transaction() as session:
        figures = kpis.kpis(session, tenant_id, dt.datetime(2025, 3, 5, tzinfo=dt.UTC))
    assert figures["total_collected"]["amount"]["amount"] == 5_000
    assert figures["payments_by_status"]["posted"] == 1


def test_a_zone_the_database_does_not_know_is_refused_naming_the_field(pg_ctx):
    with pg_ctx.transaction() as session, pytest.raises(ValidationFailed) as refused:
        tenant_settings._check_zone_known(session, "Mars/Olympus_Mons")
    assert refused.value.errors[0]["field"] == "$.timezone"


def test_writers_and_a_fold_running_together_lose_nothing(pg_ctx):
    tenant_id = _tenant(pg_ctx)
    numbers = itertools.count()
    spec = {"hour": 30, "received": 100, "status": "posted", "is_test": False,
            "channel": "kiosk"}

    def write(count: int) -> None:
        for _ in range(count):
            with pg_ctx.transaction() as session:
                session.execute(insert(Payment), [_row(tenant_id, next(numbers), spec)])

    def fold(count: int) -> None:
        for _ in range(count):
            with pg_ctx.transaction() as session:
                tallies.fold(session)

    threads = [threading.Thread(target=write, args=(40,)) for _ in range(3)] + [
        threading.Thread(target=fold, args=(30,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    day = (START + dt.timedelta(hours=30)).astimezone(ZoneInfo("Asia/Jakarta")).date()
    assert _tallied(pg_ctx, tenant_id, day, day) == ({"posted": 120}, {
        ("kiosk", "cash", "bill"): (12_000, 120)})


def test_a_statement_changing_many_payments_alike_queues_one_change_per_tally(pg_ctx):
    tenant_id = _tenant(pg_ctx)
    spec = {"hour": 30, "received": 100, "status": "succeeded", "is_test": False,
            "channel": "online"}
    with pg_ctx.transaction() as session:
        tallies.fold(session)
        session.execute(insert(Payment).values([_row(tenant_id, n, spec) for n in range(500)]))
        session.execute(update(Payment).where(Payment.tenant_id == tenant_id)
                        .values(status="completed"))
        queued = session.execute(select(PaymentTallyChange.status, PaymentTallyChange.payments,
                                        PaymentTallyChange.net)
                                 .where(PaymentTallyChange.tenant_id == tenant_id)).all()
    assert sorted(queued) == [("completed", 500, 50_000), ("succeeded", -500, -50_000),
                              ("succeeded", 500, 50_000)]
    day = (START + dt.timedelta(hours=30)).astimezone(ZoneInfo("Asia/Jakarta")).date()
    assert _tallied(pg_ctx, tenant_id, day, day) == ({"completed": 500}, {
        ("online", "cash", "bill"): (50_000, 500)})


def _queued(pg_ctx, tenant_id: int) -> list[tuple]:
    with pg_ctx.transaction() as session:
        return sorted(session.execute(select(
            PaymentTallyChange.status, PaymentTallyChange.paid_on, PaymentTallyChange.payments,
            PaymentTallyChange.net).where(PaymentTallyChange.tenant_id == tenant_id)).all())


def test_a_change_that_moves_no_tally_queues_nothing(pg_ctx):
    tenant_id = _tenant(pg_ctx)
    spec = {"hour": 30, "received": 100, "status": "posted", "is_test": False,
            "channel": "online"}
    with pg_ctx.transaction() as session:
        session.execute(insert(Payment).values([_row(tenant_id, n, spec) for n in range(20)]))
        tallies.fold(session)
    with pg_ctx.transaction() as session:  # notes, and paid_at within the same local day
        session.execute(update(Payment).where(Payment.tenant_id == tenant_id)
                        .values(notes="seen",
                                paid_at=Payment.paid_at + literal_column("interval '1 hour'")))
    assert _queued(pg_ctx, tenant_id) == []


def test_a_statement_across_tenants_counts_each_in_its_own_time_zone(pg_ctx):
    jakarta, new_york = _tenant(pg_ctx, "Asia/Jakarta"), _tenant(pg_ctx, "America/New_York")
    # 20:00 UTC on 1 March: 2 March in Jakarta, 1 March in New York.
    spec = {"hour": 20, "received": 700, "status": "succeeded", "is_test": False,
            "channel": "online"}
    with pg_ctx.transaction() as session:
        session.execute(insert(Payment).values([_row(jakarta, 1, spec), _row(new_york, 2, spec)]))
        tallies.fold(session)
    with pg_ctx.transaction() as session:
        session.execute(update(Payment).where(Payment.tenant_id.in_((jakarta, new_york)))
                        .values(status="posted"))
    march_1, march_2 = dt.date(2025, 3, 1), dt.date(2025, 3, 2)
    assert _queued(pg_ctx, jakarta) == [("posted", march_2, 1, 700),
                                        ("succeeded", march_2, -1, -700)]
    assert _queued(pg_ctx, new_york) == [("posted", march_1, 1, 700),
                                         ("succeeded", march_1, -1, -700)]
    for tenant_id, zone in ((jakarta, "Asia/Jakarta"), (new_york, "America/New_York")):
        assert _tallied(pg_ctx, tenant_id, march_1, march_2) == _plain(
            pg_ctx, tenant_id, zone, march_1, march_2)
