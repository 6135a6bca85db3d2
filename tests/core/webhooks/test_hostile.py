"""What strangers and broken senders do to the webhook inbox: unknown endpoints cost no
storage, bodies that can never parse are 400 (not retried for days), unstorable text is
refused, interrupted deliveries are resumed, and raw requests are kept only so long."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import func, select
from support.jobs import (  # noqa: F401 - fixtures
    config_row,
    deliver,
    events,
    jctx,
    jtenant,
    kit,
    payer_acts,
    payment,
    signed,
    smtp,
    start_checkout,
)

from loket import hookimpl
from loket.core.models import GatewayEventRow, WebhookDelivery
from loket.core.settings import load_settings, save_settings
from loket.core.webhooks import inbox, retention, unknown_endpoints
from loket.demo import SANDBOX_CREDENTIALS
from loket.gateways.sandbox import sign


def _deliveries(ctx):
    with ctx.transaction() as session:
        return session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()


def _events_count(ctx) -> int:
    with ctx.transaction() as session:
        return session.scalar(select(func.count()).select_from(GatewayEventRow))


def _database_size(ctx) -> int:
    with ctx.transaction() as session:
        return session.scalar(select(func.coalesce(func.sum(func.length(WebhookDelivery.body)),
                                                   0)))


def test_requests_to_unknown_endpoints_are_counted_not_stored(jctx, jtenant, caplog):
    body = b"x" * 100_000
    before, size = len(_deliveries(jctx)), _database_size(jctx)
    caplog.set_level(logging.INFO)
    for _ in range(40):
        receipt = inbox.receive(jctx, "sandbox", "no-such-token-123", body,
                                {"Content-Type": "application/json"},
                                "/v1/webhooks/sandbox/no-such-token-123", source="203.0.113.9")
        assert receipt.status == 404
    assert len(_deliveries(jctx)) == before and _database_size(jctx) == size
    [tally] = unknown_endpoints.tallies(jctx)
    assert tally["kind"] == "sandbox" and tally["count"] == 40
    assert len(tally["sample"]) == unknown_endpoints.SAMPLE_SIZE
    assert tally["sample"][0]["source"] == "203.0.113.9"
    assert tally["sample"][0]["bytes"] == 100_000
    assert "no-such-token" not in caplog.text  # the token (a secret when real) is never logged


def test_a_known_endpoints_token_never_reaches_the_log(jctx, jtenant, caplog):
    caplog.set_level(logging.DEBUG)
    token = config_row(jctx, jtenant).webhook_token
    webhook = signed(jctx, jtenant, {"id": None, "type": "payment.succeeded"})
    deliver(jctx, webhook)
    deliver(jctx, webhook, body=b"[1,2,3]")
    assert token not in caplog.text


MALFORMED = [b"[1,2,3]", b"null", b'"a string"', b"42", b"{}", b'{"id": {"x": 1}}',
             b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe not utf-8"]


@pytest.mark.parametrize("body", MALFORMED, ids=range(len(MALFORMED)))
def test_a_validly_signed_body_that_can_never_parse_is_400_and_kept(jctx, jtenant, body):
    webhook = signed(jctx, jtenant, {})
    headers = {**webhook.headers,
               "Sandbox-Signature": sign(SANDBOX_CREDENTIALS["secret"], body)}
    known = _events_count(jctx)
    receipt = deliver(jctx, webhook, body=body, headers=headers)
    assert receipt.status == 400, receipt
    kept = _deliveries(jctx)[-1]
    assert kept.verdict in ("parse-error", "rejected") and kept.body == body
    assert _events_count(jctx) == known


@pytest.mark.parametrize("field", ["id", "payment_id", "failure_message", "status"])
def test_a_lone_surrogate_in_a_signed_webhook_is_400_not_a_500(jctx, jtenant, field):
    payload = {"id": "evt_s", "type": "payment.failed", "status": "declined",
               "payment_id": "PAY-1", "failure_message": "no"}
    body = json.dumps({**payload, field: "x\ud800y"}).encode()  # \ud800 escaped: valid JSON
    assert b"\\ud800" in body
    webhook = signed(jctx, jtenant, {})
    headers = {**webhook.headers,
               "Sandbox-Signature": sign(SANDBOX_CREDENTIALS["secret"], body)}
    known = _events_count(jctx)
    receipt = deliver(jctx, webhook, body=body, headers=headers)
    assert receipt.status == 400, receipt
    assert "cannot be stored" in receipt.body["error"]
    assert _deliveries(jctx)[-1].verdict == "rejected"  # not left pending
    assert _events_count(jctx) == known


class Died(BaseException):
    """The process handling the request is gone."""


class DiesWhileParsing:
    LOKET_CONTRACT = "1"

    @hookimpl(tryfirst=True)
    def loket_gateway_parse_webhook(self, config, request):
        raise Died()


def test_an_interrupted_delivery_is_resumed_by_the_sweep(jctx, jtenant):
    paying = start_checkout(jctx, jtenant)
    webhook = payer_acts(jctx, jtenant, paying)
    plugin = DiesWhileParsing()
    jctx.plugins.pm.register(plugin, name="dies")
    try:
        with pytest.raises(Died):
            deliver(jctx, webhook)
    finally:
        jctx.plugins.pm.unregister(plugin)
    kept = _deliveries(jctx)[-1]
    assert kept.verdict == "pending" and payment(jctx, paying.number).status == "initiated"

    assert inbox.resume_interrupted(jctx) == {}  # younger than a minute: maybe still running
    jctx.clock.advance(seconds=61)
    assert inbox.resume_interrupted(jctx) == {"200": 1}
    assert _deliveries(jctx)[-1].verdict == "accepted"
    assert payment(jctx, paying.number).status == "succeeded"
    assert inbox.resume_interrupted(jctx) == {}


def test_raw_requests_are_dropped_after_the_retention_and_events_are_kept(jctx, jtenant):
    connected = len(_deliveries(jctx))  # the connection test's own webhook, with its event
    paying = start_checkout(jctx, jtenant)
    deliver(jctx, payer_acts(jctx, jtenant, paying))  # carries an event: a fact
    deliver(jctx, signed(jctx, jtenant, {"id": None, "type": "x"}))  # rejected: no event
    jctx.clock.advance(days=89)
    assert retention.purge_deliveries(jctx) == {"deleted": 0, "emptied": 0}
    jctx.clock.advance(days=2)
    events_before = _events_count(jctx)
    assert retention.purge_deliveries(jctx) == {"deleted": 1, "emptied": 1 + connected}
    kept = _deliveries(jctx)
    assert len(kept) == 1 + connected
    assert all(k.body == b"" and k.headers == {} and k.verdict == "accepted" for k in kept)
    assert _events_count(jctx) == events_before >= 2
    assert payment(jctx, paying.number).status == "succeeded"
    assert retention.purge_deliveries(jctx) == {"deleted": 0, "emptied": 0}


def test_the_retention_is_a_tenant_setting(jctx, jtenant):
    with jctx.transaction() as session:
        document = load_settings(session, jtenant).document
        save_settings(session, jtenant, {**document, "webhook_retention_days": 7})
    before = len(_deliveries(jctx))
    deliver(jctx, signed(jctx, jtenant, {"id": None, "type": "x"}))
    jctx.clock.advance(days=8)
    assert retention.purge_deliveries(jctx)["deleted"] == 1
    assert len(_deliveries(jctx)) == before


def test_the_retention_job_is_on_the_workers_schedule(jctx):
    from loket.core.config import AppConfig
    from loket.jobs import make_huey, register
    jobs = register(make_huey(AppConfig(var_dir=jctx.config.var_dir)), jctx)
    assert "webhook-retention" in jobs.periodic()
    assert jobs.webhook_retention.call_local() == {"deleted": 0, "emptied": 0,
                                                    "rate_limit_windows": 0}


def test_the_sandbox_never_keeps_the_configurations_secret_in_plaintext(jctx, jtenant):
    paying = start_checkout(jctx, jtenant)
    deliver(jctx, payer_acts(jctx, jtenant, paying))  # its records sign a webhook that works
    assert payment(jctx, paying.number).status == "succeeded"
    store = jctx.config.var_dir / "sandbox-gateway.sqlite3"
    files = [p for p in store.parent.glob("sandbox-gateway.sqlite3*")]
    assert files and all(SANDBOX_CREDENTIALS["secret"].encode() not in p.read_bytes()
                         for p in files)


def test_a_payment_applied_from_a_webhook_is_audited_once_under_its_own_name(jctx, jtenant):
    from loket.core.models import AuditEntry
    paying = start_checkout(jctx, jtenant)
    deliver(jctx, payer_acts(jctx, jtenant, paying))
    with jctx.transaction() as session:
        actions = list(session.scalars(select(AuditEntry.action).where(
            AuditEntry.entity_type == "payment", AuditEntry.entity_id == paying.number)))
    assert "payment.succeeded" in actions
    assert not any(a.startswith("payment.payment.") for a in actions)
