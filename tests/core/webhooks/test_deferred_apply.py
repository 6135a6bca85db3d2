"""Acknowledge, then apply (``LOKET_WEBHOOK_APPLY=deferred``): a webhook is answered once its
events are stored; the worker applies the pending events in batches, each exactly once, also
when several workers take batches at the same time. A batch writes what applying its events
one at a time writes, also when one of them fails."""

from __future__ import annotations

import json
import logging
import threading

import psycopg
import pytest
from sqlalchemy import func, select
from support import engine
from support.db import statements_sent
from support.jobs import (  # noqa: F401 - fixtures
    ACTOR,
    bills,
    connect,
    deliver,
    events,
    jctx,
    kit,
    paid_and_acknowledged,
    payer_acts,
    payment,
    pg_jctx,
    seed,
    smtp,
    start_checkout,
)

from loket import hookimpl
from loket.core.gateway_configs import configs
from loket.core.host import receivables
from loket.core.models import (
    Allocation,
    AuditEntry,
    GatewayEventRow,
    OutboxEvent,
    Payment,
    Receivable,
    SettlementRecord,
    Todo,
    WebhookDelivery,
)
from loket.core.webhooks import inbox
from loket.core.webhooks.events import CHANNEL
from loket.gateways import sandbox_page
from loket.jobs.queue import postgres_dsn
from loket.ops.metrics import PROCESS_REGISTRY


def test_acknowledged_events_wait_for_the_worker_then_apply_in_one_batch(jctx):
    ctx = jctx
    tenant_id = seed(ctx)
    connect(ctx, tenant_id)
    numbers = paid_and_acknowledged(ctx, tenant_id, 3)
    assert {payment(ctx, n).status for n in numbers} == {"initiated"}
    assert [e.status for e in events(ctx)] == ["pending"] * 3

    assert inbox.apply_due_batch(ctx) == {"processed": 3}
    assert {payment(ctx, n).status for n in numbers} == {"succeeded"}
    assert inbox.apply_due_batch(ctx) == {}  # nothing left: a second task changes nothing


def test_storing_events_for_deferred_apply_announces_the_new_pending_ones_only(pg_jctx):
    ctx = pg_jctx
    tenant_id = seed(ctx)
    connect(ctx, tenant_id)
    with psycopg.connect(postgres_dsn(ctx.config.database_url), autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        paying = start_checkout(ctx, tenant_id, bills(ctx, tenant_id, 1)[0])
        webhook = payer_acts(ctx, tenant_id, paying)
        assert deliver(ctx, webhook, process=False).body == {
            "received": 1, "new": 1, "duplicates": 0}
        assert [n.channel for n in listener.notifies(timeout=10, stop_after=1)] == [CHANNEL]
        again = deliver(ctx, webhook, process=False)  # nothing new: nothing announced
        assert again.body == {"received": 1, "new": 0, "duplicates": 1}
        inline = start_checkout(ctx, tenant_id)
        assert deliver(ctx, payer_acts(ctx, tenant_id, inline)).body["new"] == 1
        assert payment(ctx, inline.number).status == "succeeded"
        assert list(listener.notifies(timeout=0.5)) == []
    with ctx.transaction() as session:  # the last three: the connection test's came first
        assert list(session.scalars(select(WebhookDelivery.verdict).order_by(
            WebhookDelivery.id)))[-3:] == ["accepted", "duplicate", "accepted"]
    stored = [e for e in events(ctx) if e.payment_number == paying.number]
    assert [(e.status, e.attempts, e.event_id) for e in stored] == [
        ("pending", 0, json.loads(webhook.body)["id"])]
    assert stored[0].received_at == stored[0].next_attempt_at


@pytest.mark.parametrize("backend", ["selected", "postgresql"])
def test_workers_taking_batches_at_once_apply_each_event_once(backend, request):
    ctx = request.getfixturevalue("jctx" if backend == "selected" else "pg_jctx")
    tenant_id = seed(ctx)
    connect(ctx, tenant_id)
    numbers = paid_and_acknowledged(ctx, tenant_id, 24)
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


# --- a batch runs optimistically, and again event by event when anything fails ----------

TWIN_ITEMS = ([("bill", "INV-2025-001234")], [("bill", "INV-2025-001567"),
                                              ("service", "SRV-RECON-0001")],
              [("service", "SRV-LATE-0001")])


class _FailsFor:
    """A ``service`` processor whose billing system refuses one reference."""

    LOKET_CONTRACT = "1"

    def __init__(self, reference: str):
        self.reference = reference

    @hookimpl(tryfirst=True)
    def loket_destination_apply(self, processor, ledger, resolved, amount):
        """Fail for the one reference; otherwise let the processor answer."""
        if any(o.reference == self.reference for o in resolved.obligations):
            raise RuntimeError("billing system refused the posting")
        return None


def _acknowledged_payments(ctx, tenant_id: int) -> None:
    """The twin tenants' payments: three paid, then settled (a second event for each in the
    same batch), one declined; their events stored only."""
    config = engine.connect_sandbox(ctx, tenant_id)
    for items, outcome in [*((i, "pay") for i in TWIN_ITEMS), ([TWIN_ITEMS[0][0]], "decline")]:
        paying = engine.start(ctx, tenant_id, items)
        assert deliver(ctx, engine.payer(ctx, paying, outcome), process=False).status == 200
    for webhook in sandbox_page.settle(engine.store(ctx), config.id):
        assert deliver(ctx, webhook, process=False).status == 200


def _state(ctx, tenant_id: int, since: tuple[int, int]) -> dict:
    """What applying the events wrote for the tenant (audit rows and outbox events after
    ``since``, :func:`_marks`), without ids and times."""
    with ctx.transaction() as session:
        payments = session.scalars(select(Payment).where(Payment.tenant_id == tenant_id)
                                   .order_by(Payment.id)).all()
        number = {p.id: p.number for p in payments}
        return {
            "payments": [(p.number, p.status, p.application_state, p.settlement_status,
                          p.amount_received, p.failure_category, p.receipt_number,
                          p.succeeded_at is not None) for p in payments],
            "allocations": sorted(
                (number[a.payment_id], r.reference, a.amount, a.state) for a, r in
                session.execute(select(Allocation, Receivable).join(Receivable).where(
                    Receivable.tenant_id == tenant_id))),
            "receivables": sorted((r.reference, r.paid, r.status) for r in session.scalars(
                select(Receivable).where(Receivable.tenant_id == tenant_id))),
            "audit": sorted((a.action, a.entity_id, repr(a.before), repr(a.after)) for a in
                            session.scalars(select(AuditEntry).where(
                                AuditEntry.tenant_id == tenant_id, AuditEntry.id > since[0]))),
            "outbox": sorted((e.type, e.ordering_key if e.type != "todo.raised" else "todo",
                              sorted(e.payload.get("data") or {}))
                             for e in session.scalars(select(OutboxEvent).where(
                                 OutboxEvent.tenant_id == tenant_id, OutboxEvent.id > since[1]))),
            "settlements": sorted((r.amount, r.fee, r.net, r.matched) for r in session.scalars(
                select(SettlementRecord).where(SettlementRecord.tenant_id == tenant_id))),
            "todos": sorted((t.kind, t.title) for t in session.scalars(
                select(Todo).where(Todo.tenant_id == tenant_id))),
            "events": sorted((e.event_type, e.status, e.attempts) for e in session.scalars(
                select(GatewayEventRow).where(GatewayEventRow.tenant_id == tenant_id))),
        }


def _marks(ctx) -> tuple[int, int]:
    """The last audit row's and outbox event's ids."""
    with ctx.transaction() as session:
        return (session.scalar(select(func.max(AuditEntry.id))) or 0,
                session.scalar(select(func.max(OutboxEvent.id))) or 0)


def _batch_and_one_by_one(ctx, caplog) -> tuple[dict, dict, list[str]]:
    """Twin tenants' events applied by one batch, and one event at a time (each in its
    savepoint, the reference); what each wrote and the batch's log."""
    batched, single = engine.seed(ctx, slug="batched"), engine.seed(ctx, slug="single")
    _acknowledged_payments(ctx, batched)
    since_batched = _marks(ctx)
    with caplog.at_level(logging.INFO, logger="loket.core.webhooks.inbox"):
        assert inbox.apply_due_batch(ctx) == {"processed": 7}
    log = [r.getMessage() for r in caplog.records]
    _acknowledged_payments(ctx, single)
    since_single = _marks(ctx)
    with ctx.transaction() as session:
        pending = session.scalars(select(GatewayEventRow.id).where(
            GatewayEventRow.tenant_id == single, GatewayEventRow.status == "pending")
            .order_by(GatewayEventRow.id)).all()
    assert [inbox.process_event(ctx, i) for i in pending] == ["processed"] * 7
    return _state(ctx, batched, since_batched), _state(ctx, single, since_single), log


def test_a_batch_writes_what_applying_its_events_one_by_one_writes(ctx, caplog):
    batched, single, log = _batch_and_one_by_one(ctx, caplog)
    assert not any("again" in line for line in log)  # it ran optimistically, once
    assert batched == single
    assert [p[1:3] for p in batched["payments"][-4:]] == [
        ("completed", "applied")] * 3 + [("failed", "pending")]
    assert len(batched["settlements"]) == 3


def test_a_failure_in_a_batch_runs_it_again_event_by_event(ctx, caplog):
    lag = "loket_webhook_event_lag_seconds_count"
    counted = PROCESS_REGISTRY.get_sample_value(lag, {"gateway": "sandbox"}) or 0
    ctx.plugins.register(_FailsFor("SRV-RECON-0001"), name="fails-for")
    try:
        batched, single, log = _batch_and_one_by_one(ctx, caplog)
    finally:
        ctx.plugins.pm.unregister(name="fails-for")
    assert any("applied again event by event" in line for line in log)
    assert batched == single
    assert [p[1:3] for p in batched["payments"][-4:]] == [
        ("completed", "applied"), ("completed", "error"), ("completed", "applied"),
        ("failed", "pending")]
    assert ("payment.apply_failed", f"Payment {batched['payments'][-3][0]} was taken but "
            "could not be applied") in batched["todos"]
    # Each event's lag is observed once it is applied and committed, not once per try: the
    # twins' 14 events and their 2 connection tests.
    assert PROCESS_REGISTRY.get_sample_value(lag, {"gateway": "sandbox"}) == counted + 16


def test_a_batch_reads_its_events_payments_in_bulk(ctx):
    """A batch's reads grow by at most one an event (the host endpoints a payment's event
    goes to): its payments, holds, allocations and receivables are read ahead in bulk; on
    PostgreSQL its writes are sent together too."""
    ctx.outbox_kick = [].append  # the worker's queue sends the messages, after the commit
    sent = []
    for count in (2, 6):
        tenant_id = engine.seed(ctx, slug=f"bulk{count}")
        engine.connect_sandbox(ctx, tenant_id)
        with ctx.transaction() as session:
            for n in range(count):
                receivables.upsert_receivable(session, ACTOR, tenant_id, {
                    "account_number": "WU-10001", "kind": "bill", "reference": f"BULK-{n}",
                    "amount": "10.00", "period": "2026-11", "due_date": "2026-12-31"})
        for n in range(count):
            paying = engine.start(ctx, tenant_id, [("bill", f"BULK-{n}")])
            assert deliver(ctx, engine.payer(ctx, paying, "pay"), process=False).status == 200
        statements = statements_sent(ctx.engine)
        assert inbox.apply_due_batch(ctx) == {"processed": count}
        sent.append(list(statements))
    reads = [sum(s.lstrip().upper().startswith("SELECT") for s in run) for run in sent]
    assert reads[1] - reads[0] <= 4, reads
    if ctx.engine.dialect.name == "postgresql":  # SQLite inserts with RETURNING row by row
        assert len(sent[1]) - len(sent[0]) <= 4, [len(run) for run in sent]


class _Refunds:
    """Records the refunds loket asks the gateway for (the gateway still answers)."""

    LOKET_CONTRACT = "1"

    def __init__(self):
        self.asked: list[str] = []

    @hookimpl(tryfirst=True)
    def loket_gateway_refund(self, config, request):
        """Note the refund id; let the gateway refund."""
        self.asked.append(request.refund_id)


def test_a_connection_test_in_a_failing_batch_is_refunded_at_the_gateway_once(ctx):
    tenant_id = engine.seed(ctx, slug="connecting")
    with ctx.transaction() as session:
        configs.set_active(ctx, session, engine.ADMIN, tenant_id, "sandbox", True)
        configs.save_credentials(ctx, session, engine.ADMIN, tenant_id, "sandbox",
                                 engine.CREDENTIALS)
        test_payment = configs.connect(ctx, session, engine.ADMIN, tenant_id, "sandbox")
    test_paid, _ = sandbox_page.payer_acts(engine.store(ctx), test_payment.gateway_reference,
                                           "pay")
    assert deliver(ctx, test_paid, process=False).status == 200
    # The test connected the sandbox; a payment whose posting fails joins the batch.
    with ctx.transaction() as session:
        configs.get_row(session, tenant_id, "sandbox").connected = True
    paying = engine.start(ctx, tenant_id, [("service", "SRV-RECON-0001")])
    assert deliver(ctx, engine.payer(ctx, paying, "pay"), process=False).status == 200
    refunds = _Refunds()
    ctx.plugins.register(refunds, name="refunds")
    ctx.plugins.register(_FailsFor("SRV-RECON-0001"), name="fails-for")
    try:
        assert inbox.apply_due_batch(ctx) == {"processed": 2}
    finally:
        ctx.plugins.pm.unregister(name="refunds")
        ctx.plugins.pm.unregister(name="fails-for")
    assert refunds.asked == [f"{test_payment.number}-R"]
    assert engine.reload(ctx, test_payment).status == "refunded"
