"""``loket webhooks list|show|replay``: what staff use to look into the inbox."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from support.jobs import (  # noqa: F401 - fixtures
    deliver,
    events,
    jctx,
    jtenant,
    kit,
    payer_acts,
    payment,
    poison_payment,
    smtp,
    start_checkout,
)

from loket.cli import main
from loket.core.models import GatewayConfiguration, WebhookDelivery


@pytest.fixture
def env(jctx, monkeypatch, tmp_path):
    monkeypatch.setenv("LOKET_DATABASE_URL", jctx.config.database_url)
    monkeypatch.setenv("LOKET_SECRET_KEY", ",".join(jctx.config.secret_keys))
    monkeypatch.setenv("LOKET_VAR_DIR", str(jctx.config.var_dir))
    monkeypatch.setenv("LOKET_BASE_URL", jctx.config.base_url)
    monkeypatch.delenv("LOKET_REDIS_URL", raising=False)
    monkeypatch.delenv("LOKET_QUEUE", raising=False)


def test_list_show_and_replay_a_dead_event(jctx, jtenant, kit, env, capsys):
    paying = poison_payment(jctx, jtenant, kit, "host ledger down")
    (event,) = events(jctx)
    assert event.status == "dead"
    capsys.readouterr()

    assert main(["webhooks", "list", "--status", "dead"]) == 0
    out = capsys.readouterr().out
    assert f"{event.id}" in out and "dead" in out and paying.number in out
    assert "host ledger down" in out

    assert main(["webhooks", "show", str(event.id)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["event_id"] == event.event_id and shown["status"] == "dead"
    assert shown["delivery"]["verdict"] == "accepted"

    kit.injector.failures = 0
    assert main(["webhooks", "replay", str(event.id), "--tenant", "t1"]) == 0
    assert "processed" in capsys.readouterr().out
    assert payment(jctx, paying.number).status == "succeeded"


def test_replay_of_an_unknown_event_says_so(jctx, jtenant, env, capsys):
    assert main(["webhooks", "replay", "999999"]) == 2
    assert "no gateway event 999999" in capsys.readouterr().err


def test_show_prints_neither_the_webhook_token_nor_the_signature(jctx, jtenant, env, capsys):
    assert deliver(jctx, payer_acts(jctx, jtenant, start_checkout(jctx, jtenant))).status == 200
    (event,) = events(jctx)
    with jctx.transaction() as session:  # what the gateway sent is kept as it came
        token = session.scalar(select(GatewayConfiguration.webhook_token))
        signature = session.get(WebhookDelivery, event.delivery_id).headers["sandbox-signature"]
    capsys.readouterr()
    assert main(["webhooks", "show", str(event.id)]) == 0
    out = capsys.readouterr().out
    assert token not in out and signature not in out
    shown = json.loads(out)["delivery"]
    assert shown["path"] == "/v1/webhooks/sandbox/***"
    assert shown["headers"]["sandbox-signature"] == "***"
