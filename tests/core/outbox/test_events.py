"""Host events in the outbox: each one stored with the change, with a delivery for every
endpoint subscribed to its type, including an endpoint added earlier in the same
transaction."""

from __future__ import annotations

from sqlalchemy import select
from support.db import statements_sent
from support.engine import ACTOR

from loket.core.models import HostWebhookEndpoint, OutboxDelivery, OutboxEvent
from loket.core.outbox import endpoints
from loket.core.outbox.events import emit


def _written(ctx) -> list[tuple[str, list[str]]]:
    with ctx.transaction() as session:
        events = session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)).all()
        return [(e.type, sorted(d.recipient for d in session.scalars(select(OutboxDelivery)
                                .where(OutboxDelivery.event_row_id == e.id))))
                for e in events]


def test_an_event_nobody_subscribes_to_is_stored_in_order(ctx, tenant_id):
    with ctx.transaction() as session:
        emit(session, tenant_id, "plan.created", {"n": 1}, "plan:1")
        emit(session, tenant_id, "plan.completed", {"n": 2}, "plan:1")
    assert _written(ctx) == [("plan.created", []), ("plan.completed", [])]


def test_each_subscribed_endpoint_gets_a_delivery_of_the_types_it_chose(ctx, tenant_id):
    with ctx.transaction() as session:
        endpoints.create_endpoint(ctx, session, ACTOR, tenant_id, "https://host.test/all", [])
        endpoints.create_endpoint(ctx, session, ACTOR, tenant_id, "https://host.test/plans",
                                  ["plan.created"])
    with ctx.transaction() as session:
        emit(session, tenant_id, "plan.created", {}, "plan:1")
        emit(session, tenant_id, "payment.failed", {}, "payment:1")
    assert _written(ctx) == [
        ("plan.created", ["https://host.test/all", "https://host.test/plans"]),
        ("payment.failed", ["https://host.test/all"])]


def test_an_endpoint_added_in_the_same_transaction_hears_of_the_event(ctx, tenant_id):
    with ctx.transaction() as session:
        session.add(HostWebhookEndpoint(
            tenant_id=tenant_id, url="https://host.test/new", event_types=[],
            secret_encrypted=ctx.secrets.encrypt({"secret": "whsec_x"}), active=True,
            created_by="test", created_at=ctx.now()))
        emit(session, tenant_id, "plan.created", {}, "plan:1")
    assert _written(ctx) == [("plan.created", ["https://host.test/new"])]


def test_an_endpoint_switched_off_in_the_same_transaction_gets_nothing(ctx, tenant_id):
    with ctx.transaction() as session:
        row, _secret = endpoints.create_endpoint(ctx, session, ACTOR, tenant_id,
                                                 "https://host.test/off", [])
    with ctx.transaction() as session:
        session.get(HostWebhookEndpoint, row.id).active = False
        emit(session, tenant_id, "plan.created", {}, "plan:1")
    assert _written(ctx) == [("plan.created", [])]


def test_many_events_of_a_transaction_read_the_endpoints_once(ctx, tenant_id):
    with ctx.transaction() as session:
        endpoints.create_endpoint(ctx, session, ACTOR, tenant_id, "https://host.test/all", [])
    sent = statements_sent(ctx.engine)
    with ctx.transaction() as session:
        for n in range(5):
            emit(session, tenant_id, "payment.completed", {"n": n}, f"payment:{n}")
    assert sum("host_webhook_endpoints" in statement for statement in sent) == 1
    assert _written(ctx) == [("payment.completed", ["https://host.test/all"])] * 5


def test_an_endpoint_changed_between_two_events_of_a_transaction_counts_for_the_second(
        ctx, tenant_id):
    with ctx.transaction() as session:
        row, _secret = endpoints.create_endpoint(ctx, session, ACTOR, tenant_id,
                                                 "https://host.test/old", [])
    with ctx.transaction() as session:
        emit(session, tenant_id, "plan.created", {}, "plan:1")
        session.get(HostWebhookEndpoint, row.id).active = False
        endpoints.create_endpoint(ctx, session, ACTOR, tenant_id, "https://host.test/new", [])
        emit(session, tenant_id, "plan.completed", {}, "plan:1")
    assert _written(ctx) == [("plan.created", ["https://host.test/old"]),
                             ("plan.completed", ["https://host.test/new"])]


def test_an_endpoint_added_in_a_savepoint_rolled_back_hears_of_nothing(ctx, tenant_id):
    with ctx.transaction() as session:
        emit(session, tenant_id, "plan.created", {}, "plan:1")
        savepoint = session.begin_nested()
        endpoints.create_endpoint(ctx, session, ACTOR, tenant_id, "https://host.test/gone", [])
        emit(session, tenant_id, "plan.updated", {}, "plan:1")
        savepoint.rollback()
        emit(session, tenant_id, "plan.completed", {}, "plan:1")
    assert _written(ctx) == [("plan.created", []), ("plan.completed", [])]
