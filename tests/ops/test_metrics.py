"""``GET /metrics``: requests by route template, gateway calls, webhook deliveries and lag,
and the state read from the database and the queue at scrape time."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from sqlalchemy import select
from support.api import api, connected_api  # noqa: F401 - fixtures
from support.ops import samples, value

from loket.core.models import GatewayConfiguration, OutboxDelivery
from loket.core.outbox import events
from loket.core.todos import raise_todo
from loket.gateways import sandbox_page
from loket.jobs import setup as jobs_setup


def _scrape(api) -> tuple[dict, str]:
    answered = api.client.simulate_get("/metrics")
    assert answered.status_code == 200
    assert answered.headers["content-type"].startswith("text/plain")
    return samples(answered.text), answered.text


def _pay(api, reference: str):
    started = api.post("/v1/me/checkout", {"gateway": "sandbox", "items": [
        {"kind": "bill", "reference": reference}]}, role="consumer")
    assert started.status_code == 201, started.text
    gateway_reference = started.json["redirect_url"].rstrip("/").rsplit("/", 1)[-1]
    webhook, _ = sandbox_page.payer_acts(api.sandbox_db(), gateway_reference, "pay")
    return webhook


def test_requests_gateway_calls_and_webhooks_are_counted_by_template(connected_api):
    api = connected_api
    before, _ = _scrape(api)
    webhook = _pay(api, "INV-2025-001234")
    assert api.deliver(webhook).status_code == 200
    assert api.deliver(webhook).status_code == 200  # the gateway sent it twice
    assert api.client.simulate_post("/v1/webhooks/sandbox/not-a-known-token",
                                    body=b"{}").status_code == 404
    after, exposition = _scrape(api)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("loket_http_requests_total", method="POST", route="/v1/me/checkout",
                 status="201") == 1
    assert delta("loket_http_requests_total", method="POST",
                 route="/v1/webhooks/{gateway}/{token}", status="200") == 2
    assert delta("loket_http_request_duration_seconds_count", method="POST",
                 route="/v1/me/checkout") == 1
    assert delta("loket_gateway_calls_total", gateway="sandbox", hook="charge",
                 outcome="ok") == 1
    assert delta("loket_gateway_calls_total", gateway="sandbox", hook="parse_webhook",
                 outcome="ok") == 2
    assert delta("loket_gateway_call_duration_seconds_count", gateway="sandbox",
                 hook="charge") == 1
    assert delta("loket_webhook_deliveries_total", gateway="sandbox", verdict="accepted") == 1
    assert delta("loket_webhook_deliveries_total", gateway="sandbox", verdict="duplicate") == 1
    assert delta("loket_webhook_deliveries_total", gateway="sandbox",
                 verdict="unknown-endpoint") == 1
    assert delta("loket_webhook_event_lag_seconds_count", gateway="sandbox") == 1
    with api.ctx.transaction() as session:
        token = session.scalar(select(GatewayConfiguration.webhook_token))
    assert token not in exposition and urlsplit(webhook.url).path not in exposition
    assert value(after, "loket_payments", status="succeeded") == 1
    assert value(after, "loket_gateway_events", status="processed") >= 1
    assert value(after, "loket_gateway_events", status="dead") == 0
    assert value(after, "loket_database_up") == 1


def test_state_gauges_follow_the_database_and_the_queue(api):
    with api.ctx.transaction() as session:
        raise_todo(session, api.tenant_id, "webhook.dead", "an event gave up", detail="x",
                   entity_type="gateway_event", entity_id="1", dedupe_key="m-1")
        raise_todo(session, api.tenant_id, "webhook.dead", "another", detail="x",
                   entity_type="gateway_event", entity_id="2", dedupe_key="m-2")
    jobs = jobs_setup(api.ctx)  # the same queue as the app's probe (default name)
    try:
        jobs.sweep_inbox()
        found, exposition = _scrape(api)
        assert value(found, "loket_todos_open", kind="webhook.dead") == 2
        assert value(found, "loket_queue_up") == 1
        assert value(found, "loket_queue_depth") == 1
        assert value(found, "loket_gateway_events_oldest_pending_seconds") == 0
        assert value(found, "loket_outbox_backlog") == 0
    finally:
        jobs.huey.flush()


def test_the_outbox_backlog_counts_the_deliveries_not_made_and_those_given_up(api):
    now = api.ctx.now()
    with api.ctx.transaction() as session:
        event = events.emit(session, api.tenant_id, "payment.posted", {}, "payment:x")
        for n, (age, status) in enumerate([(600, "pending"), (30, "pending"),
                                           (900, "delivered"), (5000, "dead")]):
            session.add(OutboxDelivery(
                tenant_id=api.tenant_id, event=event, target=f"log:{n}", channel="log",
                recipient=str(n), ordering_key="payment:x", status=status,
                next_attempt_at=now, created_at=now - dt.timedelta(seconds=age)))
    found, _ = _scrape(api)
    assert value(found, "loket_outbox_backlog") == 2
    assert 590 <= value(found, "loket_outbox_oldest_seconds") <= 700
    assert value(found, "loket_outbox_dead") == 1
