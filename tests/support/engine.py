"""Helpers for driving the engine through the sandbox gateway, as a gateway would."""

from __future__ import annotations

from sqlalchemy import select

from loket.core import audit
from loket.core.gateway_configs import configs
from loket.core.models import GatewayConfiguration, Payment, Receivable
from loket.core.payments import checkout
from loket.core.payments.counter_payments import CounterPayment, record_counter_payment
from loket.core.webhooks import inbox
from loket.gateways import sandbox_page, sandbox_store

ACTOR = audit.Actor("tester", "cso_admin")
ADMIN = audit.Actor("admin", "tenant_admin")
CONSUMER = audit.Actor("WU-10001", "consumer", account_number="WU-10001")
CREDENTIALS = {"merchant_name": "Test Water", "secret": "sbx_test0123456789abcdef"}


def deliver(ctx, webhook) -> inbox.Receipt:
    """Hand a sandbox webhook to loket's inbox exactly as the HTTP endpoint does."""
    request = webhook.as_request()
    kind, token = request.path.rstrip("/").split("/")[-2:]
    return inbox.receive(ctx, kind, token, request.body, dict(request.headers), request.path)


def store(ctx):
    """The sandbox gateway's own records for this test."""
    return sandbox_store.open_path(sandbox_store.store_path({"var_dir": str(ctx.config.var_dir)}))


def connect_sandbox(ctx, tenant_id: int) -> GatewayConfiguration:
    """Activate, configure and connect the sandbox (its test payment paid and refunded)."""
    with ctx.transaction() as session:
        configs.set_active(ctx, session, ADMIN, tenant_id, "sandbox", True)
        configs.save_credentials(ctx, session, ADMIN, tenant_id, "sandbox", CREDENTIALS)
        payment = configs.connect(ctx, session, ADMIN, tenant_id, "sandbox")
    webhook, _ = sandbox_page.payer_acts(store(ctx), payment.gateway_reference, "pay")
    assert deliver(ctx, webhook).status == 200
    with ctx.transaction() as session:
        return configs.get_row(session, tenant_id, "sandbox")


def start(ctx, tenant_id, items, account="WU-10001", key=None, method="card") -> Payment:
    """A consumer starts a checkout of ``items`` [(kind, reference)]."""
    with ctx.transaction() as session:
        return checkout.start_checkout(
            ctx, session, audit.Actor(account, "consumer", account_number=account), tenant_id,
            account, "sandbox", [{"kind": k, "reference": r} for k, r in items],
            method=method, idempotency_key=key)


def payer(ctx, payment: Payment, outcome: str):
    """The payer acts on the sandbox page; returns the webhook (not yet delivered)."""
    webhook, _ = sandbox_page.payer_acts(store(ctx), payment.gateway_reference, outcome)
    return webhook


def reload(ctx, payment: Payment) -> Payment:
    with ctx.transaction() as session:
        return session.get(Payment, payment.id)


def outstanding(ctx, tenant_id, *references) -> int:
    """What the receivables still owe, in minor units."""
    with ctx.transaction() as session:
        rows = session.scalars(select(Receivable).where(Receivable.tenant_id == tenant_id,
                                                        Receivable.reference.in_(references)))
        return sum(r.amount - r.paid for r in rows)


def seed(ctx, currency: str = "USD", slug: str = "t1") -> int:
    """Create the demo tenant's data (no gateway); returns the tenant id."""
    from loket.core import tenants
    from loket.core.host import receivables
    from loket.demo import CONSUMERS, RECEIVABLES
    with ctx.transaction() as session:
        tenant = tenants.create_tenant(session, ACTOR, slug, f"Test Water {slug}",
                                       {"currency": currency})
        for consumer in CONSUMERS:
            receivables.upsert_consumer(session, ACTOR, tenant.id, consumer)
        for item in RECEIVABLES:
            receivables.upsert_receivable(session, ACTOR, tenant.id, item)
        return tenant.id


def seed_yen(ctx, reference: str) -> int:
    """A JPY tenant (no minor units) on default settings whose WU-10001 owes bill
    ``reference`` of 1,200 yen; returns the tenant id."""
    from loket.core import tenants
    from loket.core.host import receivables
    with ctx.transaction() as session:
        tenant_id = tenants.create_tenant(session, ACTOR, "jp", "Suido", {
            "currency": "JPY", "locale": "ja_JP", "timezone": "Asia/Tokyo"}).id
        receivables.upsert_consumer(session, ACTOR, tenant_id, {"account_number": "WU-10001",
                                                                "name": "Sato"})
        receivables.upsert_receivable(session, ACTOR, tenant_id, {
            "account_number": "WU-10001", "kind": "bill", "reference": reference,
            "amount": "1200"})
    return tenant_id


def post(ctx, tenant_id, key=None, **fields):
    """A counter payment for WU-10001 (bill, cash, paid 2025-01-15 unless ``fields`` say
    otherwise), recorded in its own transaction; returns what the engine returns."""
    entry = CounterPayment(**{"account_number": "WU-10001", "payment_type": "bill",
                              "method": "cash", "amount_received": "0",
                              "paid_on": "2025-01-15", **fields})
    with ctx.transaction() as session:
        return record_counter_payment(ctx, session, ACTOR, tenant_id, entry, key)
