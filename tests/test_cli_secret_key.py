"""The commands that read or write stored secrets, or sign with the key, run from a shell
that lacks ``LOKET_SECRET_KEY`` against production's database: they refuse in one line
naming the variable (status 2) and write nothing, instead of failing obscurely, signing with
the development key or storing secrets the server cannot read. With the key set, or on a
development database, they run."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import select
from support.cli import cli_database

from loket.cli import CLI, main
from loket.core.config import AppConfig
from loket.core.context import Loket
from loket.core.gateway_configs import configs
from loket.core.host import receivables
from loket.core.models import Base, GatewayConfiguration
from loket.core.outbox import endpoints
from loket.core.secrets import SecretBox
from loket.core.tenants import tenant_by_slug

PRODUCTION_KEY = SecretBox.generate_key()
REPORT = ("reference,payment_number,currency,amount,fee,net,settled_at,payout\n"
          "sbx_gone_1,PAY-GONE-1,USD,10.00,0.59,9.41,2026-12-01T10:00:00+00:00,po_1\n")


@pytest.fixture
def production(tmp_path, monkeypatch):
    """A database whose secrets production's key encrypted (the tenant ``water``: its
    sandbox gateway's credentials, a host webhook endpoint's signing secret, the consumer
    ``A-1``), reached from a shell without ``LOKET_SECRET_KEY``. Returns the one-line
    refusal the commands print."""
    cli_database(tmp_path, monkeypatch)
    assert main(["tenant", "create", "water", "--currency", "USD"]) == 0
    ctx = Loket.create(AppConfig.from_env({**os.environ, "LOKET_SECRET_KEY": PRODUCTION_KEY}))
    with ctx.transaction() as session:
        tenant_id = tenant_by_slug(session, "water").id
        configs.set_active(ctx, session, CLI, tenant_id, "sandbox", True)
        row = configs.save_credentials(ctx, session, CLI, tenant_id, "sandbox", {
            "merchant_name": "Water Co", "secret": "sbx_0123456789abcdef"})
        endpoints.create_endpoint(ctx, session, CLI, tenant_id, "https://hooks.example.com/in",
                                  [])
        receivables.upsert_consumer(session, CLI, tenant_id,
                                    {"account_number": "A-1", "name": "Ann Example"})
        config_id = row.id
    return (f"loket: LOKET_SECRET_KEY is not set and the development key "
            f"({tmp_path / 'var' / 'secret.key'}) does not decrypt gateway configuration "
            f"{config_id}: this database's secrets were encrypted with another key. Set "
            f"LOKET_SECRET_KEY as the server and the worker have it\n")


def _database() -> dict:
    """Every row of every table, to compare before and after a command."""
    ctx = Loket.create(AppConfig.from_env({**os.environ, "LOKET_SECRET_KEY": PRODUCTION_KEY}))
    with ctx.transaction() as session:
        return {table.name: sorted(map(tuple, session.execute(select(table)).all()), key=repr)
                for table in Base.metadata.sorted_tables}


@pytest.mark.parametrize("command", [
    ["token", "--tenant", "water", "--account", "A-1"],
    ["demo"],
    ["keys", "rotate"],
    ["reconcile", "report", "{report}", "--tenant", "water", "--gateway", "sandbox"],
    ["jobs", "run", "handshakes"],
])
def test_without_the_key_a_command_working_with_secrets_refuses_and_writes_nothing(
        production, tmp_path, capsys, command):
    report = tmp_path / "settlement.csv"
    report.write_text(REPORT)
    before = _database()
    assert main([part.format(report=report) for part in command]) == 2
    out, err = capsys.readouterr()
    if command == ["demo"]:  # it migrates first: alembic's log lines come before
        err = err[err.index("loket: "):]
    assert (out, err) == ("", production)
    assert _database() == before  # no demo tenant, no key revoked, nothing re-encrypted


def test_the_installed_command_refuses_in_one_line_with_status_2(production, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "LOKET_SECRET_KEY"}
    for command in (["token", "--tenant", "water", "--account", "A-1"],
                    ["serve", "--port", "0"]):  # before it listens
        done = subprocess.run([sys.executable, "-m", "loket.cli", *command], env=env,
                              capture_output=True, text=True, timeout=120)
        assert (done.returncode, done.stdout, done.stderr) == (2, "", production)


def test_with_the_key_set_the_same_commands_run(production, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("LOKET_SECRET_KEY", PRODUCTION_KEY)
    assert main(["token", "--tenant", "water", "--account", "A-1"]) == 0
    assert main(["keys", "rotate"]) == 0
    assert "re-encrypted 1 gateway configuration(s), 1 webhook endpoint" in (
        capsys.readouterr().out)


def test_on_a_development_database_they_run_on_the_development_key(tmp_path, monkeypatch,
                                                                   capsys):
    cli_database(tmp_path, monkeypatch)  # no LOKET_SECRET_KEY, as on a fresh machine
    assert main(["demo"]) == 0  # stores the sandbox credentials with var/secret.key
    assert main(["token", "--tenant", "demo", "--account", "WU-10001"]) == 0
    report = tmp_path / "settlement.csv"
    report.write_text(REPORT)
    assert main(["reconcile", "report", str(report), "--tenant", "demo", "--gateway",
                 "sandbox", "--quiet"]) == 0
    assert main(["keys", "rotate"]) == 0
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "matched 0, already settled 0, unmatched 1" in out
    assert "re-encrypted 1 gateway configuration(s)" in out
    ctx = Loket.create(AppConfig.from_env(development_key=True))
    with ctx.transaction() as session:
        row = session.scalars(select(GatewayConfiguration)).one()
        assert ctx.secrets.decrypt(row.credentials_encrypted)["merchant_name"]
