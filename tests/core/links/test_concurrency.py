"""On PostgreSQL, at the same moment: two payers on one multi-use link, and two outbox
workers delivering one payment's events."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from support.concurrency import at_once
from support.engine import ACTOR, connect_sandbox, deliver, payer, seed
from support.outbox import Receiver

from loket.core import audit
from loket.core.backoffice import administration
from loket.core.links import links
from loket.core.models import CreditNote, OutboxDelivery, Payment, Receivable
from loket.core.outbox import delivery, endpoints
from loket.core.payments import counter_payments
from loket.core.settings import load_settings, save_settings

pytestmark = pytest.mark.postgres
BILLS = [{"kind": "bill", "reference": "INV-2025-001234"},
         {"kind": "bill", "reference": "INV-2025-001567"}]


def _link(ctx, tenant_id, policy):
    with ctx.transaction() as session:
        return links.create_link(ctx, session, ACTOR, tenant_id, links.LinkRequest(
            account_number="WU-10001", items=BILLS, amount_policy=policy, multi_use=True))


def _pay(ctx, link, amount):
    def work(_index):
        with ctx.transaction() as session:
            return links.pay(ctx, session, link, "sandbox", amount)
    return work


def test_a_multi_use_link_paid_in_full_twice_at_once_starts_one_checkout(pg_ctx):
    ctx = pg_ctx
    tenant_id = seed(ctx)
    connect_sandbox(ctx, tenant_id)
    link = _link(ctx, tenant_id, "full")
    results = at_once(_pay(ctx, link, None))
    assert all(isinstance(r, Payment) for r in results), results
    # The second Pay goes on with the checkout the first started, for everything.
    assert len({r.id for r in results}) == 1
    started = results[0]
    assert started.amount == 29775
    with ctx.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Payment).where(
            Payment.payment_link_id == link.id)) == 1
    deliver(ctx, payer(ctx, started, "pay"))
    with ctx.transaction() as session:
        assert {r.reference: r.amount - r.paid for r in session.scalars(select(Receivable))
                if r.reference in ("INV-2025-001234", "INV-2025-001567")} == {
            "INV-2025-001234": 0, "INV-2025-001567": 0}


def test_two_part_payments_at_once_share_the_items_without_overpaying(pg_ctx):
    ctx = pg_ctx
    tenant_id = seed(ctx)
    connect_sandbox(ctx, tenant_id)
    link = _link(ctx, tenant_id, "partial")
    results = at_once(_pay(ctx, link, "100.00"))
    assert all(isinstance(r, Payment) for r in results), results
    for payment in results:
        deliver(ctx, payer(ctx, payment, "pay"))
    with ctx.transaction() as session:
        paid = {r.reference: r.paid for r in session.scalars(select(Receivable))}
        assert (paid["INV-2025-001234"], paid["INV-2025-001567"]) == (14550, 5450)
        assert session.scalar(select(func.count()).select_from(CreditNote)) == 0


def test_two_workers_deliver_a_payments_events_once_each_in_order(pg_ctx):
    ctx = pg_ctx
    tenant_id = seed(ctx)
    with ctx.transaction() as session:
        document = dict(load_settings(session, tenant_id).document)
        save_settings(session, tenant_id, {**document, "messages": {"channels": {}}})
    with Receiver(delay_seconds=0.05) as host:
        with ctx.transaction() as session:
            _, host.secret = endpoints.create_endpoint(ctx, session, ACTOR, tenant_id,
                                                       host.url, [])
        numbers = []
        for reference in ("INV-2025-001234", "INV-2025-001567", "SRV-RECON-0001"):
            kind = "service" if reference.startswith("SRV") else "bill"
            with ctx.transaction() as session:
                payment = counter_payments.record_counter_payment(
                    ctx, session, ACTOR, tenant_id, counter_payments.CounterPayment(
                        account_number="WU-10001", payment_type=kind, method="cash",
                        amount_received="20.00", paid_on="2025-01-15", references=(reference,)))
            with ctx.transaction() as session:
                administration.cancel_posted(ctx, session, audit.Actor("admin", "cso_admin"),
                                             session.get(Payment, payment.id), "test")
            numbers.append(payment.number)

        def work(_index):
            for _ in range(20):
                delivery.deliver_due(ctx)
            return True

        assert at_once(work) == [True, True]
        with ctx.transaction() as session:
            assert set(session.scalars(select(OutboxDelivery.status))) == {"delivered"}
    assert len(host.accepted) == len(set(host.event_ids())) == 6  # once each
    for number in numbers:
        kinds = [a["body"]["type"] for a in host.accepted
                 if a["body"]["data"]["payment"]["number"] == number]
        assert kinds == ["payment.posted", "payment.cancelled"]
