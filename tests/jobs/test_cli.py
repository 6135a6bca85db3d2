"""``loket jobs run|drain`` and ``loket webhooks replay`` from a shell without
``LOKET_SECRET_KEY``: on production's database they refuse to start (the worker's rule)
instead of failing every gateway's handshake on the development key; on a development
database, whose secrets that key encrypted, they run."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from support.cli import cli_database
from support.jobs import (  # noqa: F401 - fixtures
    deliver,
    events,
    jctx,
    jtenant,
    kit,
    payer_acts,
    smtp,
    start_checkout,
)

from loket.cli import main
from loket.core.models import GatewayConfiguration, Todo


@pytest.fixture
def keyless_shell(jctx, monkeypatch, tmp_path):
    """The commands pointed at ``jctx``'s database from a shell that lacks the key."""
    monkeypatch.setenv("LOKET_DATABASE_URL", jctx.config.database_url)
    monkeypatch.delenv("LOKET_SECRET_KEY", raising=False)
    monkeypatch.setenv("LOKET_VAR_DIR", str(tmp_path / "ops-shell"))
    monkeypatch.delenv("LOKET_REDIS_URL", raising=False)
    monkeypatch.delenv("LOKET_QUEUE", raising=False)


def _gateway_state(ctx) -> tuple:
    with ctx.transaction() as session:
        row = session.scalar(select(GatewayConfiguration))
        todos = session.scalars(select(Todo)).all()
        return row.handshake_failures, row.last_handshake_error, row.last_handshake_at, todos


@pytest.mark.parametrize("command", [["jobs", "run", "handshakes"], ["jobs", "drain"],
                                     ["jobs", "run", "handshakes", "--enqueue"]])
def test_without_the_key_jobs_refuse_a_database_the_development_key_cannot_read(
        jctx, jtenant, keyless_shell, smtp, capsys, command):
    before = _gateway_state(jctx)
    assert main(command) == 2
    out, err = capsys.readouterr()
    assert err.startswith("loket: LOKET_SECRET_KEY is not set and the development key")
    assert "does not decrypt gateway configuration" in err and "Traceback" not in err
    assert out == ""
    assert _gateway_state(jctx) == before  # no failed handshake, no to-do, no mail
    assert before[0] == 0 and before[3] == [] and smtp.messages == []


def test_without_the_key_a_replay_is_refused_and_the_inbox_can_still_be_read(
        jctx, jtenant, keyless_shell, capsys):
    assert deliver(jctx, payer_acts(jctx, jtenant, start_checkout(jctx, jtenant))).status == 200
    (event,) = events(jctx)
    assert main(["webhooks", "replay", str(event.id)]) == 2
    assert "LOKET_SECRET_KEY is not set" in capsys.readouterr().err
    (after,) = events(jctx)
    assert (after.status, after.attempts) == (event.status, event.attempts)
    assert main(["webhooks", "list"]) == 0  # reading needs no key
    assert event.event_id in capsys.readouterr().out


def test_on_a_development_database_they_run_on_its_development_key(
        tmp_path, monkeypatch, capsys):
    cli_database(tmp_path, monkeypatch)  # no LOKET_SECRET_KEY: var/secret.key is used
    assert main(["demo"]) == 0  # the sandbox credentials, encrypted with var/secret.key
    capsys.readouterr()
    assert main(["jobs", "run", "handshakes"]) == 0
    assert main(["jobs", "drain"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("handshakes: {'ok': 1, 'failed': 0") and "task(s) run" in out
    assert main(["webhooks", "list"]) == 0
