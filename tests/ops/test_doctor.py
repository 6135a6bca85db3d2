"""``loket doctor`` on misconfigured installs: each fault is named with what to fix, and the
exit status says whether anything failed. Run as the real command, in its own process."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

from support.jobs import smtp  # noqa: F401 - fixture
from support.ops import free_port

from loket.core import audit, migrate, tenants
from loket.core.config import AppConfig
from loket.core.context import Loket
from loket.core.models import GatewayConfiguration, HostWebhookEndpoint
from loket.core.secrets import SecretBox

SETUP = audit.Actor("doctor-test", "system")


def _doctor(as_text: bool = True, **env: str) -> tuple[int, str, list[dict]]:
    """Run ``loket doctor --json`` (and, with ``as_text``, ``loket doctor`` as people read
    it); returns the exit status, the text and the checks."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("LOKET_")}
    base.update(env)
    as_json = subprocess.run([sys.executable, "-m", "loket.cli", "doctor", "--json"],
                             env=base, capture_output=True, text=True, timeout=120)
    out = ""
    if as_text:
        text = subprocess.run([sys.executable, "-m", "loket.cli", "doctor"], env=base,
                              capture_output=True, text=True, timeout=120)
        assert as_json.returncode == text.returncode
        out = text.stdout
    return as_json.returncode, out, json.loads(as_json.stdout)


def _by_name(checks: list[dict]) -> dict[str, dict]:
    return {c["name"]: c for c in checks}


def test_an_install_whose_services_are_all_down_names_each_one(tmp_path):
    code, out, checks = _doctor(
        LOKET_DATABASE_URL=f"postgresql+psycopg://loket@127.0.0.1:{free_port()}/loket",
        LOKET_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        LOKET_SMTP_PORT=str(free_port()), LOKET_VAR_DIR=str(tmp_path / "var"))
    assert code == 1
    found = _by_name(checks)
    for name, fix in (("secret_key", "LOKET_SECRET_KEY"), ("database", "LOKET_DATABASE_URL"),
                      ("queue", "LOKET_REDIS_URL"), ("smtp", "LOKET_SMTP_HOST")):
        assert found[name]["status"] == "fail", name
        assert fix in found[name]["fix"], name
        assert f"[FAIL] {name}:" in out
    assert found["migrations"]["status"] == "fail"  # cannot be confirmed without a database
    assert found["base_url"]["status"] == "warn"
    assert "fix: start Redis" in out


def test_an_unreadable_configuration_is_named(tmp_path):
    code, out, checks = _doctor(False, LOKET_GATEWAY_OPTIONS="{not json",
                                LOKET_VAR_DIR=str(tmp_path / "var"))
    assert code == 1
    (check,) = checks
    assert check["name"] == "configuration" and "LOKET_GATEWAY_OPTIONS" in check["detail"]


def test_an_unmigrated_database_is_named(tmp_path, smtp):  # noqa: F811 - fixture
    code, out, checks = _doctor(
        False, LOKET_DATABASE_URL=f"sqlite:///{tmp_path / 'empty.db'}",
        LOKET_SECRET_KEY=SecretBox.generate_key(), LOKET_VAR_DIR=str(tmp_path / "var"),
        LOKET_SMTP_PORT=str(smtp.port))
    assert code == 1
    found = _by_name(checks)
    assert found["database"]["status"] == "ok"
    assert found["migrations"]["status"] == "fail"
    assert "loket db upgrade" in found["migrations"]["fix"]
    assert found["secret_key"]["status"] == found["queue"]["status"] == "ok"
    assert found["smtp"]["status"] == "ok"


def _gateway(session, tenant_id: int, kind: str, credentials: dict, box: SecretBox) -> None:
    session.add(GatewayConfiguration(
        tenant_id=tenant_id, kind=kind, active=True, connected=True,
        credentials_encrypted=box.encrypt(credentials), credentials_masked={},
        webhook_token=secrets.token_urlsafe(24)))


def test_each_active_gateway_that_cannot_be_reached_is_named(tmp_path, plugins, smtp):  # noqa: F811
    key, old_key = SecretBox.generate_key(), SecretBox.generate_key()
    url = f"sqlite:///{tmp_path / 'loket.db'}"
    ctx = Loket.create(AppConfig(database_url=url, secret_keys=(key,),
                                 var_dir=tmp_path / "var"), plugins=plugins)
    migrate.upgrade(ctx.engine)
    with ctx.transaction() as session:
        water = tenants.create_tenant(session, SETUP, "water", "Water", {"currency": "USD"})
        tax = tenants.create_tenant(session, SETUP, "tax", "Tax", {"currency": "USD"})
        ok = tenants.create_tenant(session, SETUP, "ok", "Fine", {"currency": "USD"})
        box = SecretBox((key,))
        # A gateway nobody answers for, one that refuses its secret, one whose credentials
        # were saved under a key this install no longer has, and one that works.
        _gateway(session, water.id, "stripe", {"secret_key": "sk_test_" + "a" * 24,
                                               "publishable_key": "pk_test_" + "b" * 24}, box)
        _gateway(session, water.id, "sandbox", {"merchant_name": "Water",
                                                "secret": "sbx_revoked_0123456789"}, box)
        _gateway(session, tax.id, "sandbox", {"merchant_name": "Tax", "secret": "sbx_tax"},
                 SecretBox((old_key,)))
        _gateway(session, ok.id, "sandbox", {"merchant_name": "Fine", "secret": "sbx_fine"},
                 box)
        # Host webhook endpoints: one signing secret saved under the old key.
        # One registered before endpoints had to be public https.
        public = "https://hooks.example.com/in"
        for tenant, secret_box, hook in ((tax, SecretBox((old_key,)), public),
                                         (ok, box, public),
                                         (water, box, "http://10.0.0.5/hooks")):
            session.add(HostWebhookEndpoint(
                tenant_id=tenant.id, url=hook, event_types=[],
                secret_encrypted=secret_box.encrypt({"secret": "whsec_x"}), active=True))
    ctx.engine.dispose()
    code, out, checks = _doctor(
        LOKET_DATABASE_URL=url, LOKET_SECRET_KEY=key, LOKET_VAR_DIR=str(tmp_path / "var"),
        LOKET_SMTP_PORT=str(smtp.port), LOKET_BASE_URL="https://pay.example.com",
        LOKET_GATEWAY_OPTIONS=json.dumps({"stripe": {
            "api_base": f"http://127.0.0.1:{free_port()}", "max_network_retries": 0}}))
    assert code == 1, out
    found = _by_name(checks)
    for name in ("configuration", "secret_key", "database", "migrations", "queue", "smtp",
                 "plugins"):
        assert found[name]["status"] == "ok", (name, found[name])
    assert "base_url" not in found
    stripe = found["gateway stripe (water)"]
    assert stripe["status"] == "fail" and "handshake failed" in stripe["detail"]
    assert "reaches the gateway" in stripe["fix"]
    revoked = found["gateway sandbox (water)"]
    assert revoked["status"] == "fail" and "revoked" in revoked["detail"]
    undecryptable = found["gateway sandbox (tax)"]
    assert undecryptable["status"] == "fail" and "decrypted" in undecryptable["detail"]
    assert "LOKET_SECRET_KEY" in undecryptable["fix"]
    assert found["gateway sandbox (ok)"]["status"] == "ok"
    secrets_check = found["webhook_secrets"]
    assert secrets_check["status"] == "fail" and "1 of 3" in secrets_check["detail"]
    assert "(tax)" in secrets_check["detail"] and "loket keys rotate" in secrets_check["fix"]
    urls = found["webhook_urls"]
    assert urls["status"] == "fail" and "1 of 3" in urls["detail"] and "(water)" in urls["detail"]
    assert "LOKET_HOST_WEBHOOKS_ALLOW_PRIVATE" in urls["fix"]
    assert "[FAIL] gateway stripe (water): handshake failed" in out
    assert out.rstrip().endswith("5 fault(s), 0 warning(s)")
    assert key not in out and "sbx_revoked_0123456789" not in out


def test_a_healthy_install_passes(tmp_path, smtp):  # noqa: F811 - fixture
    url = f"sqlite:///{tmp_path / 'loket.db'}"
    env = dict(LOKET_DATABASE_URL=url, LOKET_SECRET_KEY=SecretBox.generate_key(),
               LOKET_VAR_DIR=str(tmp_path / "var"), LOKET_SMTP_PORT=str(smtp.port),
               LOKET_BASE_URL="https://pay.example.com")
    base = {k: v for k, v in os.environ.items() if not k.startswith("LOKET_")}
    upgraded = subprocess.run([sys.executable, "-m", "loket.cli", "db", "upgrade"],
                              env={**base, **env}, capture_output=True, text=True, timeout=120)
    assert upgraded.returncode == 0, upgraded.stderr
    code, out, checks = _doctor(**env)
    assert code == 0, out
    assert all(c["status"] == "ok" for c in checks)
    assert out.rstrip().endswith("all checks passed")
