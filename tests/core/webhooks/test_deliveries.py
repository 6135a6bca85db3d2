"""A webhook request is stored as it arrived, with the configuration its URL names, and
committed before anything reads its body: on PostgreSQL in one statement."""

from __future__ import annotations

from sqlalchemy import func, select
from support.db import statements_sent
from support.engine import connect_sandbox

from loket.core.models import WebhookDelivery
from loket.core.webhooks import deliveries

HEADERS = {"content-type": "application/json", "sandbox-signature": "t=1,v1=ab"}


def _count(ctx) -> int:
    with ctx.transaction() as session:
        return session.scalar(select(func.count()).select_from(WebhookDelivery))


def _row(ctx, delivery_id: int) -> WebhookDelivery:
    with ctx.transaction() as session:
        return session.get(WebhookDelivery, delivery_id)


def test_a_request_is_stored_as_it_arrived_with_its_configuration(ctx, tenant_id):
    row = connect_sandbox(ctx, tenant_id)
    now = ctx.now()
    sent = statements_sent(ctx.engine)
    stored = deliveries.store(ctx, "sandbox", row.webhook_token, b'{"id": "evt_1"}', HEADERS,
                              "/v1/webhooks/sandbox/" + row.webhook_token, now)
    assert (stored.config_id, stored.tenant_id, stored.too_large) == (row.id, tenant_id, False)
    assert stored.config.credentials["secret"].startswith("sbx_")
    assert stored.known.row.id == row.id and stored.known.settings["currency"] == "USD"
    if ctx.engine.dialect.name == "postgresql":
        # Read and written in one statement, which committed on its own.
        assert len(sent) == 1 and "INSERT INTO webhook_deliveries" in sent[0]
    delivery = _row(ctx, stored.delivery_id)
    assert (delivery.tenant_id, delivery.gateway_configuration_id) == (tenant_id, row.id)
    assert (delivery.body, delivery.headers, delivery.verdict) == (
        b'{"id": "evt_1"}', HEADERS, "pending")
    assert delivery.path == "/v1/webhooks/sandbox/" + row.webhook_token
    assert delivery.received_at == now and delivery.error is None


def test_an_unknown_token_or_another_gateways_stores_nothing(ctx, tenant_id):
    row = connect_sandbox(ctx, tenant_id)  # its test payment's webhook is stored
    before = _count(ctx)
    assert deliveries.store(ctx, "sandbox", "no-such-token", b"{}", {}, "/x", ctx.now()) \
        is None
    assert deliveries.store(ctx, "stripe", row.webhook_token, b"{}", {}, "/x", ctx.now()) \
        is None
    assert _count(ctx) == before


def test_a_body_over_the_limit_is_kept_empty_as_too_large(ctx, tenant_id):
    row = connect_sandbox(ctx, tenant_id)
    body = b"x" * (ctx.config.max_body_bytes + 1)
    stored = deliveries.store(ctx, "sandbox", row.webhook_token, body, HEADERS, "/p",
                              ctx.now())
    assert stored.too_large
    delivery = _row(ctx, stored.delivery_id)
    assert (delivery.body, delivery.verdict) == (b"", "too-large")


def test_a_request_is_stored_on_a_database_whose_installation_id_is_not_made_yet(
        ctx, tenant_id):
    from loket.core.models import Installation
    row = connect_sandbox(ctx, tenant_id)
    with ctx.transaction() as session:  # as after a restore: configurations, no identity
        session.query(Installation).delete()
    ctx.cache.pop("installation_id", None)
    stored = deliveries.store(ctx, "sandbox", row.webhook_token, b"{}", HEADERS, "/p",
                              ctx.now())
    assert not isinstance(stored.config, Exception)
    assert len(stored.config.installation_id) == 32
    with ctx.transaction() as session:
        assert session.scalar(select(Installation.installation_id)) == \
            stored.config.installation_id
