"""The demo tenant of ``loket demo`` and ``make run``: the seeds' sample data, the sandbox
gateway configured and connected through its real test transaction, and keys to try."""

from __future__ import annotations

from typing import Any

import attrs
from sqlalchemy import select

from loket.core import audit, tenants
from loket.core.gateway_configs import configs
from loket.core.host import receivables
from loket.core.models import GatewayConfiguration, Tenant
from loket.core.webhooks import inbox
from loket.gateways import sandbox_page, sandbox_store

DEMO_SLUG = "demo"
CONSUMERS = [
    {"account_number": "WU-10001", "name": "John Doe", "email": "john.doe@example.com",
     "phone": "+1 555 0100", "service_address": "12 Water Lane, Springfield"},
    {"account_number": "CRN29391", "name": "Isidro Garcia", "email": "isidro@example.com",
     "phone": "+1 555 0101", "service_address": "7 Pipe Street, Springfield"},
]
RECEIVABLES: list[dict[str, Any]] = [
    {"account_number": "WU-10001", "kind": "bill", "reference": "INV-2025-001234",
     "amount": "145.50", "description": "Water bill", "period": "January 2025",
     "due_date": "2025-02-15"},
    {"account_number": "WU-10001", "kind": "bill", "reference": "INV-2025-001567",
     "amount": "152.25", "description": "Water bill", "period": "February 2025",
     "due_date": "2025-03-15"},
    {"account_number": "WU-10001", "kind": "service", "reference": "SRV-RECON-0001",
     "amount": "75.00", "description": "Reconnection Fee", "due_date": "2025-03-01"},
    {"account_number": "WU-10001", "kind": "service", "reference": "SRV-LATE-0001",
     "amount": "25.00", "description": "Late Fee", "due_date": "2025-03-01"},
    *[{"account_number": "WU-10001", "kind": "installment", "reference": f"PP-2025-0034-{n}",
       "amount": "67.50", "description": f"Payment plan PP-2025-0034, installment {n} of 3",
       "due_date": f"2025-0{n + 3}-01", "plan": "PP-2025-0034", "sequence": n}
      for n in (1, 2, 3)],
    {"account_number": "CRN29391", "kind": "bill", "reference": "BILL7890",
     "amount": "120.50", "description": "Water Supply", "period": "March 2025",
     "due_date": "2025-04-15"},
]
SANDBOX_CREDENTIALS = {"merchant_name": "Springfield Water (demo)",
                       "secret": "sbx_demo0123456789abcdef"}


@attrs.frozen
class DemoKeys:
    """What ``loket demo`` prints: one API key per staff role and a consumer token."""

    api_keys: dict
    consumer_token: str
    created: bool
    slug: str = DEMO_SLUG


def load_demo(ctx, signer) -> DemoKeys:
    """Create the demo tenant (once) and return fresh keys to try it with."""
    actor = audit.Actor("demo", "system")
    with ctx.transaction() as session:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == DEMO_SLUG))
        created = tenant is None
        if created:
            tenant = tenants.create_tenant(session, actor, DEMO_SLUG, "Springfield Water (demo)",
                                           {"currency": "USD", "locale": "en_US"})
            for consumer in CONSUMERS:
                receivables.upsert_consumer(session, actor, tenant.id, consumer)
            for item in RECEIVABLES:
                receivables.upsert_receivable(session, actor, tenant.id, item)
            configs.set_active(ctx, session, actor, tenant.id, "sandbox", True)
            configs.save_credentials(ctx, session, actor, tenant.id, "sandbox",
                                      SANDBOX_CREDENTIALS)
        tenant_id = tenant.id
        for old in tenants.list_api_keys(session, tenant_id):  # keys are shown once: the
            if old.name.startswith("demo "):                   # previous run's are revoked
                tenants.revoke_api_key(session, actor, tenant_id, old.prefix, ctx.now())
        keys = {role: tenants.create_api_key(session, actor, tenant_id, role, f"demo {role}")
                for role in tenants.STAFF_ROLES}
    if created:
        connect_sandbox(ctx, tenant_id, actor)
    token = signer.consumer_token(tenant_id, "WU-10001", 7 * 24 * 3600)
    return DemoKeys(api_keys=keys, consumer_token=token, created=created)


def connect_sandbox(ctx, tenant_id: int, actor: audit.Actor) -> None:
    """Run the sandbox's connection test: the test payment is paid on the sandbox side and
    its signed webhook goes through loket's inbox, exactly as over HTTP."""
    with ctx.transaction() as session:
        payment = configs.connect(ctx, session, actor, tenant_id, "sandbox")
        row = session.get_one(GatewayConfiguration, payment.gateway_configuration_id)
        config = configs.config_value(ctx, session, row)
    db = sandbox_store.open_store(config)
    assert payment.gateway_reference is not None  # the sandbox charged it
    webhook, _ = sandbox_page.payer_acts(db, payment.gateway_reference, "pay")
    assert webhook is not None  # paying always notifies
    request = webhook.as_request()
    inbox.receive(ctx, "sandbox", row.webhook_token, request.body, dict(request.headers),
                  request.path)
