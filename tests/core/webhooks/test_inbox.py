"""The webhook inbox: refused requests change nothing, duplicates and reordering apply once,
failures are retried with backoff and end as to-dos, early and unknown events are kept."""

from __future__ import annotations

import time

from sqlalchemy import func, select
from support.db import statements_sent
from support.jobs import (  # noqa: F401 - fixtures
    deliver,
    events,
    jctx,
    jtenant,
    kit,
    payer_acts,
    payment,
    poison_payment,
    settle,
    signed,
    smtp,
    start_checkout,
    todos,
)

from loket.core.models import Allocation, GatewayEventRow, Receivable, WebhookDelivery
from loket.core.webhooks import inbox


def _deliveries(ctx) -> list[WebhookDelivery]:
    with ctx.transaction() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def _receivable(ctx, reference: str) -> Receivable:
    with ctx.transaction() as session:
        return session.scalar(select(Receivable).where(Receivable.reference == reference))


def _posted(ctx, payment_id: int) -> int:
    with ctx.transaction() as session:
        return session.scalar(select(func.count()).select_from(Allocation).where(
            Allocation.payment_id == payment_id, Allocation.state == "posted"))


def test_tampered_stale_unknown_and_oversized_requests_are_refused_and_change_nothing(
        jctx, jtenant):
    paying = start_checkout(jctx, jtenant)
    webhook = payer_acts(jctx, jtenant, paying)
    before = len(_deliveries(jctx))

    tampered = webhook.body.replace(b'"amount": 14550', b'"amount": 1')
    assert tampered != webhook.body
    assert deliver(jctx, webhook, body=tampered).status == 400
    stale = signed(jctx, jtenant, {"id": "evt_old", "type": "payment.succeeded",
                                   "status": "paid", "payment_id": paying.number},
                   timestamp=int(time.time()) - 3600)
    assert deliver(jctx, stale).status == 400
    assert deliver(jctx, webhook, headers={"Content-Type": "application/json"}).status == 400
    unknown = type(webhook)(url=webhook.url.rsplit("/", 1)[0] + "/not-a-token",
                            body=webhook.body, headers=webhook.headers)
    assert deliver(jctx, unknown).status == 404
    big = webhook.body + b" " * (jctx.config.max_body_bytes + 1)
    assert deliver(jctx, webhook, body=big).status == 413

    stored = _deliveries(jctx)[before:]
    # The request to an unknown endpoint is counted, not stored (anyone can send it).
    assert [d.verdict for d in stored] == ["rejected", "rejected", "rejected", "too-large"]
    assert "signature" in stored[0].error and "too old" in stored[1].error
    assert stored[0].body == tampered  # kept for staff to look at
    assert events(jctx) == []
    assert payment(jctx, paying.number).status == "initiated"
    assert _receivable(jctx, "INV-2025-001234").paid == 0


def test_duplicate_delivery_is_acknowledged_and_applied_once(jctx, jtenant):
    paying = start_checkout(jctx, jtenant)
    webhook = payer_acts(jctx, jtenant, paying)
    first = deliver(jctx, webhook)
    second = deliver(jctx, webhook)
    assert (first.status, first.body["new"]) == (200, 1)
    assert (second.status, second.body["new"], second.body["duplicates"]) == (200, 0, 1)
    assert [e.status for e in events(jctx)] == ["processed"]
    assert _receivable(jctx, "INV-2025-001234").paid == 14550
    assert _posted(jctx, paying.id) == 1
    assert _deliveries(jctx)[-1].verdict == "duplicate"


def test_settlement_before_payment_event_ends_completed_and_late_event_changes_nothing(
        jctx, jtenant):
    paying = start_checkout(jctx, jtenant)
    paid = payer_acts(jctx, jtenant, paying)
    (settled,) = settle(jctx, jtenant)

    assert deliver(jctx, settled).status == 200
    done = payment(jctx, paying.number)
    assert done.status == "completed" and done.receipt_number
    assert deliver(jctx, paid).status == 200  # arrives late: nothing moves backwards
    late = payment(jctx, paying.number)
    assert (late.status, late.receipt_number) == ("completed", done.receipt_number)
    assert _receivable(jctx, "INV-2025-001234").paid == 14550
    assert _posted(jctx, paying.id) == 1
    assert [e.status for e in events(jctx)] == ["processed", "processed"]


def test_replaying_a_processed_event_changes_nothing(jctx, jtenant):
    paying = start_checkout(jctx, jtenant)
    deliver(jctx, payer_acts(jctx, jtenant, paying))
    (event,) = events(jctx)
    assert inbox.replay(jctx, event.id) == "processed"
    assert payment(jctx, paying.number).status == "succeeded"
    assert _receivable(jctx, "INV-2025-001234").paid == 14550
    assert _posted(jctx, paying.id) == 1


def test_processing_failure_is_rolled_back_and_retried_with_backoff_to_success(
        jctx, jtenant, kit):
    paying = start_checkout(jctx, jtenant)
    webhook = payer_acts(jctx, jtenant, paying)
    kit.recorder.reset()
    # Three failing calls: the delivery's optimistic try and its try in a savepoint, then
    # the first retry.
    kit.injector.failures = 3

    assert deliver(jctx, webhook).status == 200  # stored: the gateway need not resend
    (event,) = events(jctx)
    assert (event.status, event.attempts) == ("pending", 1)
    assert "destination processor unavailable" in event.last_error
    assert payment(jctx, paying.number).status == "initiated"
    assert _receivable(jctx, "INV-2025-001234").paid == 0

    assert inbox.retry_due(jctx) == {}  # not due before its backoff
    jctx.clock.advance(seconds=31)
    assert inbox.retry_due(jctx) == {"pending": 1}
    jctx.clock.advance(seconds=30)
    assert inbox.retry_due(jctx) == {}  # the second backoff is a minute
    jctx.clock.advance(seconds=31)
    assert inbox.retry_due(jctx) == {"processed": 1}

    (event,) = events(jctx)
    assert (event.status, event.attempts, event.last_error) == ("processed", 3, None)
    assert payment(jctx, paying.number).status == "succeeded"
    assert _receivable(jctx, "INV-2025-001234").paid == 14550
    kinds = [n.kind for n in kit.recorder.notifications]
    assert kinds == ["payment.succeeded"]  # the failed attempts notified nobody


def test_poison_event_ends_as_a_todo_and_can_be_replayed_once_fixed(jctx, jtenant, kit):
    paying = poison_payment(jctx, jtenant, kit, "receivable ledger is locked")
    (event,) = events(jctx)
    assert (event.status, event.attempts) == ("dead", jctx.config.webhook_max_attempts)
    (todo,) = todos(jctx, "webhook.dead")
    assert event.event_id in todo.title and "receivable ledger is locked" in todo.detail
    assert payment(jctx, paying.number).status == "initiated"

    kit.injector.failures = 0
    assert inbox.replay(jctx, event.id) == "processed"
    assert payment(jctx, paying.number).status == "succeeded"


def test_event_arriving_before_its_payment_is_kept_and_applied_once_it_exists(
        jctx, jtenant):
    year = jctx.now().year
    expected = f"PAY-{year}-000002"  # the number the next checkout takes
    early = signed(jctx, jtenant, {
        "id": "evt_early", "type": "payment.succeeded", "status": "paid",
        "payment_id": expected, "reference": "sbx_cs_early", "amount": 14550,
        "currency": "USD"})
    assert deliver(jctx, early).status == 200
    (event,) = events(jctx)
    assert event.status == "pending" and event.attempts == 0
    assert event.last_error.startswith("waiting for payment")

    paying = start_checkout(jctx, jtenant)
    assert paying.number == expected
    assert inbox.retry_due(jctx) == {}
    jctx.clock.advance(seconds=16)
    assert inbox.retry_due(jctx) == {"processed": 1}
    assert payment(jctx, expected).status == "succeeded"
    assert _receivable(jctx, "INV-2025-001234").paid == 14550


def test_event_for_a_payment_loket_never_created_becomes_an_orphan_todo(jctx, jtenant):
    stranger = signed(jctx, jtenant, {
        "id": "evt_stranger", "type": "payment.succeeded", "status": "paid",
        "payment_id": "EXT-77", "reference": "sbx_cs_elsewhere", "amount": 999,
        "currency": "USD"})
    assert deliver(jctx, stranger).status == 200
    for hours in (1, 6, 12, 24):
        jctx.clock.advance(hours=hours)
        inbox.retry_due(jctx)
    (event,) = events(jctx)
    assert event.status == "orphan" and event.attempts == 0
    (todo,) = todos(jctx, "webhook.unknown_payment")
    assert "EXT-77" in todo.title
    assert inbox.retry_due(jctx) == {}  # no more retries, nothing crashed
    listed = inbox.list_events(jctx, status="orphan")
    assert [e["event_id"] for e in listed] == ["evt_stranger"]


def test_show_event_returns_the_request_it_came_in_its_secrets_masked(jctx, jtenant):
    paying = start_checkout(jctx, jtenant)
    webhook = payer_acts(jctx, jtenant, paying)
    deliver(jctx, webhook)
    (event,) = events(jctx)
    shown = inbox.show_event(jctx, event.id, tenant_id=jtenant)
    assert shown["payment_id"] == paying.number and shown["status"] == "processed"
    assert shown["delivery"]["body"] == webhook.body.decode()
    # As in the logs: the webhook URL's token and the signature are never shown.
    assert shown["delivery"]["path"] == "/v1/webhooks/sandbox/***"
    assert shown["delivery"]["headers"] == {"content-type": "application/json",
                                            "sandbox-signature": "***"}
    assert shown["payload"]["type"] == "payment.succeeded"
    with jctx.transaction() as session:
        assert session.get(GatewayEventRow, event.id).delivery_id == shown["delivery"]["id"]


def test_a_delivery_reads_its_configuration_and_the_settings_once(jctx, jtenant):
    """The configuration and the tenant's settings come in one statement, the events'
    transaction uses what the storing transaction read a moment earlier, and applies the
    event without a savepoint."""
    paying = start_checkout(jctx, jtenant)
    webhook = payer_acts(jctx, jtenant, paying)
    sent = statements_sent(jctx.engine)
    assert deliver(jctx, webhook).status == 200
    assert payment(jctx, paying.number).status in ("succeeded", "completed")
    # On PostgreSQL the read is part of the statement that stores the request (WITH …).
    reads = [s for s in sent if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert len([s for s in reads if "tenant_settings" in s]) == 1
    assert len([s for s in reads if "FROM gateway_configurations" in s]) == 1
    [both] = [s for s in reads if "tenant_settings" in s]
    assert "FROM gateway_configurations" in both
    # Applied optimistically: no savepoint, the invariants read once.
    assert not [s for s in sent if "SAVEPOINT" in s.upper()]
    assert len([s for s in reads if "FROM credit_notes" in s]) == 1
