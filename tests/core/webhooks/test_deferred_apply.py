"""Acknowledge, then apply (``LOKET_WEBHOOK_APPLY=deferred``): a webhook is answered once its
events are stored; the worker applies the pending events in batches, each exactly once, also
when several workers take batches at the same time."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from support.jobs import (  # noqa: F401 - fixtures
    ACTOR,
    connect,
    events,
    jctx,
    kit,
    payer_acts,
    payment,
    pg_jctx,
    seed,
    smtp,
    start_checkout,
)

from loket.core.host import receivables
from loket.core.models import Allocation
from loket.core.webhooks import inbox


def _bills(ctx, tenant_id, count: int) -> list[str]:
    with ctx.transaction() as session:
        for n in range(count):
            receivables.upsert_receivable(session, ACTOR, tenant_id, {
                "account_number": "WU-10001", "kind": "bill", "reference": f"BATCH-{n:03d}",
                "amount": "10.00", "period": "2026-11", "due_date": "2026-12-31"})
    return [f"BATCH-{n:03d}" for n in range(count)]


def _acknowledged(ctx, webhook) -> inbox.Receipt:
    """Deliver as the endpoint does in deferred mode: stored, not applied."""
    request = webhook.as_request()
    kind, token = request.path.rstrip("/").split("/")[-2:]
    return inbox.receive(ctx, kind, token, request.body, dict(request.headers), request.path,
                         process=False)


def _paid_and_acknowledged(ctx, tenant_id, count: int) -> list[str]:
    numbers = []
    for reference in _bills(ctx, tenant_id, count):
        paying = start_checkout(ctx, tenant_id, reference)
        receipt = _acknowledged(ctx, payer_acts(ctx, tenant_id, paying))
        assert receipt.status == 200 and receipt.body["new"] == 1
        numbers.append(paying.number)
    return numbers


def test_acknowledged_events_wait_for_the_worker_then_apply_in_one_batch(jctx):
    ctx = jctx
    tenant_id = seed(ctx)
    connect(ctx, tenant_id)
    numbers = _paid_and_acknowledged(ctx, tenant_id, 3)
    assert {payment(ctx, n).status for n in numbers} == {"initiated"}
    assert [e.status for e in events(ctx)] == ["pending"] * 3

    assert inbox.apply_due_batch(ctx) == {"processed": 3}
    assert {payment(ctx, n).status for n in numbers} == {"succeeded"}
    assert inbox.apply_due_batch(ctx) == {}  # nothing left: a second task changes nothing


@pytest.mark.parametrize("backend", ["selected", "postgresql"])
def test_workers_taking_batches_at_once_apply_each_event_once(backend, request):
    ctx = request.getfixturevalue("jctx" if backend == "selected" else "pg_jctx")
    tenant_id = seed(ctx)
    connect(ctx, tenant_id)
    numbers = _paid_and_acknowledged(ctx, tenant_id, 24)
    barrier = threading.Barrier(4)
    results, errors = [], []

    def worker():
        barrier.wait()
        try:
            while outcome := inbox.apply_due_batch(ctx, limit=5):
                results.append(outcome)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert sum(r.get("processed", 0) for r in results) == 24
    assert {e.status for e in events(ctx)} == {"processed"}
    assert {e.attempts for e in events(ctx)} == {1}
    assert {payment(ctx, n).status for n in numbers} == {"succeeded"}
    with ctx.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Allocation).where(
            Allocation.state == "posted", Allocation.payment_id.in_(
                [payment(ctx, n).id for n in numbers]))) == 24
