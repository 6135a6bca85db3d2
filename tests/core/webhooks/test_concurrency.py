"""The same webhook fired from 10 threads at once is stored once and applied once: the
database's unique (configuration, event id) key decides, not a check-then-insert."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from support.jobs import (  # noqa: F401 - fixtures
    connect,
    deliver,
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

from loket.core.models import Allocation, AuditEntry, Receivable


def _fire(ctx, webhook, threads: int = 10) -> list:
    barrier = threading.Barrier(threads)
    results, errors = [], []

    def send():
        barrier.wait()
        try:
            results.append(deliver(ctx, webhook))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    workers = [threading.Thread(target=send) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert errors == []
    return results


@pytest.mark.parametrize("backend", ["selected", "postgresql"])
def test_duplicates_from_ten_threads_are_applied_once(backend, request, kit):
    ctx = request.getfixturevalue("jctx" if backend == "selected" else "pg_jctx")
    tenant_id = seed(ctx)
    connect(ctx, tenant_id)
    paying = start_checkout(ctx, tenant_id)
    webhook = payer_acts(ctx, tenant_id, paying)
    kit.recorder.reset()

    results = _fire(ctx, webhook)

    assert sorted(r.status for r in results) == [200] * 10
    assert sum(r.body["new"] for r in results) == 1
    assert sum(r.body["duplicates"] for r in results) == 9
    assert [e.status for e in events(ctx)] == ["processed"]
    assert payment(ctx, paying.number).status == "succeeded"
    with ctx.transaction() as session:
        assert session.scalar(select(Receivable.paid).where(
            Receivable.reference == "INV-2025-001234")) == 14550
        assert session.scalar(select(func.count()).select_from(Allocation).where(
            Allocation.payment_id == paying.id, Allocation.state == "posted")) == 1
        assert session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.entity_id == paying.number,
            AuditEntry.action == "payment.succeeded")) == 1
    assert [n.kind for n in kit.recorder.notifications] == ["payment.succeeded"]
