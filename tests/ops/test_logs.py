"""Structured logs: the context of a request, an event, a task or a command is on every line,
and no secret, token or webhook path token ever is."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from support.api import api, connected_api  # noqa: F401 - fixtures

from loket.core.models import GatewayConfiguration
from loket.core.webhooks import inbox
from loket.demo import SANDBOX_CREDENTIALS
from loket.gateways import sandbox_page
from loket.ops import logs


@pytest.fixture
def captured():
    """Every log line of this process, as JSON, into a buffer (restored afterwards)."""
    stream = io.StringIO()
    logs.configure(logs.LogSettings(format="json", level="INFO"), stream=stream)
    logs.clear()
    yield stream
    logs.clear()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_loket", False):
            root.removeHandler(handler)


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def _token(api) -> str:
    with api.ctx.transaction() as session:
        return session.scalar(select(GatewayConfiguration.webhook_token).where(
            GatewayConfiguration.tenant_id == api.tenant_id))


def test_a_webhook_line_carries_request_id_tenant_and_event_id_and_no_token(
        connected_api, captured):
    api = connected_api
    started = api.post("/v1/me/checkout", {"gateway": "sandbox", "items": [
        {"kind": "bill", "reference": "INV-2025-001234"}]}, role="consumer")
    assert started.status_code == 201, started.text
    number = started.json["payment"]["number"]
    reference = started.json["redirect_url"].rstrip("/").rsplit("/", 1)[-1]
    webhook, _ = sandbox_page.payer_acts(api.sandbox_db(), reference, "pay")
    captured.truncate(0)
    captured.seek(0)
    answered = api.client.simulate_post(urlsplit(webhook.url).path, body=webhook.body,
                                        headers={**webhook.headers,
                                                 "X-Request-ID": "req-webhook-1"})
    assert answered.status_code == 200
    lines = _lines(captured)
    (event,) = [e for e in inbox.list_events(api.ctx, api.tenant_id)
                if e["payment_id"] == number]
    access = [line for line in lines if line["event"] == "request"]
    assert len(access) == 1
    (line,) = access
    assert line["request_id"] == "req-webhook-1"
    assert line["tenant"] == api.tenant_id
    assert line["route"] == "/v1/webhooks/{gateway}/{token}"
    assert line["event_id"] == event["event_id"]
    assert line["payment"] == number
    applied = [entry for entry in lines if "applied" in entry["event"]]
    assert applied and applied[0]["event_id"] == line["event_id"]
    assert applied[0]["request_id"] == "req-webhook-1"
    text = captured.getvalue()
    assert _token(api) not in text
    assert SANDBOX_CREDENTIALS["secret"] not in text


def test_staff_request_lines_carry_tenant_role_and_route_but_never_the_api_key(api, captured):
    answered = api.get("/v1/payments", role="cso_admin", headers={"X-Request-ID": "req-2"})
    assert answered.status_code == 200
    (line,) = [entry for entry in _lines(captured) if entry["event"] == "request"]
    assert (line["request_id"], line["tenant"], line["role"], line["route"], line["status"]) \
        == ("req-2", api.tenant_id, "cso_admin", "/v1/payments", 200)
    assert api.keys["cso_admin"] not in captured.getvalue()


def test_an_unknown_webhook_endpoint_is_logged_without_its_token(api, captured):
    token = "Zq8xSECRETtokenOfSomeoneElse12345"
    answered = api.client.simulate_post(f"/v1/webhooks/sandbox/{token}", body=b"{}")
    assert answered.status_code == 404
    text = captured.getvalue()
    assert "unknown sandbox endpoint refused" in text
    assert token not in text and token[:6] not in text


def test_secrets_are_masked_wherever_they_appear(captured):
    log = logs.get_logger("loket.test")
    log.info("credentials saved", gateway={"secret_key": "sk_live_abc", "name": "x"},
             api_key="lk_abcdefghijklmnopqrstuvwxyz", password="hunter2",
             url="https://pay.example.com/v1/webhooks/stripe/AbCdEf0123456789")
    logging.getLogger("loket.test.stdlib").warning(
        "retrying %s with Authorization: Bearer %s", "/v1/webhooks/doku/TOKEN0123456789",
        "lk_zyxwvutsrqponmlkjihgfedcba")
    text = captured.getvalue()
    for secret in ("sk_live_abc", "lk_abcdefghijklmnopqrstuvwxyz", "hunter2",
                   "AbCdEf0123456789", "TOKEN0123456789", "lk_zyxwvutsrqponmlkjihgfedcba"):
        assert secret not in text
    first, second = _lines(captured)
    assert first["url"] == "https://pay.example.com/v1/webhooks/stripe/***"
    assert first["gateway"] == {"secret_key": "***", "name": "x"}
    assert second["logger"] == "loket.test.stdlib"


def test_an_event_applied_by_a_worker_logs_its_event_and_payment_then_forgets_them(
        connected_api, captured):
    api = connected_api
    started = api.post("/v1/me/checkout", {"gateway": "sandbox", "items": [
        {"kind": "bill", "reference": "INV-2025-001567"}]}, role="consumer")
    reference = started.json["redirect_url"].rstrip("/").rsplit("/", 1)[-1]
    webhook, _ = sandbox_page.payer_acts(api.sandbox_db(), reference, "pay")
    path = urlsplit(webhook.url).path
    kind, token = path.rsplit("/", 2)[-2:]
    logs.clear()
    inbox.receive(api.ctx, kind, token, webhook.body, dict(webhook.headers), path,
                  process=False)
    logs.clear()
    with logs.scope():
        logs.bind(task="process_event")
        (event,) = [e for e in inbox.list_events(api.ctx, api.tenant_id, "pending")]
        assert inbox.process_event(api.ctx, event["id"]) == "processed"
        assert logs.current() == {"task": "process_event"}  # nothing leaks to the next one
    (line,) = [entry for entry in _lines(captured) if "applied" in entry["event"]]
    assert line["task"] == "process_event"
    assert line["event_id"] == event["event_id"]
    assert line["payment"] == event["payment_id"] and line["tenant"] == api.tenant_id


def test_the_cli_and_its_lines_carry_the_command_json_in_production(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOKET_")}
    env.update(LOKET_VAR_DIR=str(tmp_path / "var"), LOKET_LOG_FORMAT="json")
    done = subprocess.run([sys.executable, "-m", "loket.cli", "demo"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert lines and all(line["command"] == "demo" for line in lines)
    webhook = [line for line in lines if line.get("logger") == "loket.core.webhooks.inbox"]
    assert webhook and all(line["tenant"] and line["event_id"] for line in webhook)
    keys = [line.split()[-1] for line in done.stdout.splitlines() if "lk_" in line]
    assert keys and not any(key in done.stderr for key in keys)
    assert SANDBOX_CREDENTIALS["secret"] not in done.stderr


def test_development_lines_are_readable_text():
    stream = io.StringIO()
    logs.configure(logs.LogSettings(format="console"), stream=stream)
    try:
        with logs.bound(request_id="abc"):
            logs.get_logger("loket.dev").info("hello", payment="PAY-1")
    finally:
        root = logging.getLogger()
        for handler in list(root.handlers):
            if getattr(handler, "_loket", False):
                root.removeHandler(handler)
    text = stream.getvalue()
    assert "hello" in text and "request_id=abc" in text and "payment=PAY-1" in text
    assert not text.lstrip().startswith("{")


_FRAGMENTS = st.sampled_from(["/v1/webhooks/", "stripe/", "Bearer ", "bEaReR\t", "lk_", "LK_",
                              "abcdefghijklmnop0123", "-", "/", " ", "x", "é"])


@given(st.lists(_FRAGMENTS, max_size=12).map("".join))
def test_a_text_is_scrubbed_exactly_as_the_three_patterns_alone_would(text):
    alone = text
    for pattern in (logs.WEBHOOK_PATH, logs.BEARER, logs.LOKET_KEYS):
        alone = pattern.sub(r"\1" + logs.MASK, alone)
    assert logs.scrub_text(text) == alone
