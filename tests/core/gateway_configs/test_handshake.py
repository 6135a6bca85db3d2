"""The daily handshake: only gateways the admin left on are checked, an alert names the
account (profile) that broke, a plugin's crash reaches admins only as its type (its text
may carry a credential), and no lock is held while a gateway answers, so a hanging gateway
blocks nobody and its late answer is not recorded over what the admin changed meanwhile.

The sweep's mail-once-then-weekly behaviour is tested with the other periodic jobs
(tests/jobs/test_periodic.py)."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select
from support.jobs import (  # noqa: F401 - fixtures
    ACTOR,
    jctx,
    jtenant,
    kit,
    smtp,
    todos,
)

from loket import hookimpl
from loket.core.gateway_configs import configs, handshake
from loket.core.models import AuditEntry
from loket.core.settings import load_settings, save_settings
from loket.demo import SANDBOX_CREDENTIALS
from loket.errors import GatewayError

ADMINS = ["ops@water.example"]
REVOKED = "sbx_revoked0123456789ab"


def _mail_admins(ctx, tenant_id) -> None:
    with ctx.transaction() as session:
        document = load_settings(session, tenant_id).document
        document["notifications"] = {"tenant_admins": ADMINS}
        save_settings(session, tenant_id, document)


def _revoke(ctx, tenant_id, name: str = "sandbox") -> None:
    """The account's secret no longer works at the gateway."""
    with ctx.transaction() as session:
        row = configs.get_row(session, tenant_id, name)
        credentials = ctx.secrets.decrypt(row.credentials_encrypted)
        row.credentials_encrypted = ctx.secrets.encrypt({**credentials, "secret": REVOKED})


def test_a_gateway_the_admin_switched_off_is_not_checked(jctx, jtenant, smtp):
    _mail_admins(jctx, jtenant)
    with jctx.transaction() as session:
        configs.set_active(jctx, session, ACTOR, jtenant, "sandbox", False)
    _revoke(jctx, jtenant)
    assert handshake.handshake_sweep(jctx) == {"ok": 0, "failed": 0, "alerted": 0}
    assert todos(jctx, "gateway.handshake_failed") == [] and smtp.to(ADMINS[0]) == []


def test_the_alert_names_the_account_that_broke(jctx, jtenant, smtp):
    _mail_admins(jctx, jtenant)
    with jctx.transaction() as session:
        configs.set_active(jctx, session, ACTOR, jtenant, "sandbox:gas", True)
        configs.save_credentials(jctx, session, ACTOR, jtenant, "sandbox:gas",
                                 SANDBOX_CREDENTIALS)
        configs.get_row(session, jtenant, "sandbox:gas").connected = True  # (tested)
    _revoke(jctx, jtenant, "sandbox:gas")
    assert handshake.handshake_sweep(jctx) == {"ok": 1, "failed": 1, "alerted": 1}
    (todo,) = todos(jctx, "gateway.handshake_failed")
    assert (todo.title, todo.entity_id) == ("Sandbox (test gateway) (gas) handshake failed",
                                            "sandbox:gas")
    (mail,) = smtp.to(ADMINS[0])
    assert "Sandbox (test gateway) (gas)" in mail["subject"]
    assert "The daily check of Sandbox (test gateway) (gas) failed." in mail["body"]
    with jctx.transaction() as session:
        assert session.scalars(select(AuditEntry.entity_id).where(
            AuditEntry.action == "gateway.handshake_failed")).all() == ["sandbox:gas"]


class Leaking:
    """A plugin whose handshake crashes with a message carrying the secret it was given."""

    LOKET_CONTRACT = "1"

    @hookimpl(tryfirst=True)
    def loket_gateway_handshake(self, config):
        raise RuntimeError(f"login with {config.credentials['secret']} refused")


def test_a_plugin_crash_reaches_admins_without_its_text(jctx, jtenant, smtp, caplog):
    _mail_admins(jctx, jtenant)
    plugin = Leaking()
    jctx.plugins.pm.register(plugin, name="leaking")
    try:
        with caplog.at_level(logging.ERROR, logger=handshake.__name__):
            assert handshake.handshake_sweep(jctx) == {"ok": 0, "failed": 1, "alerted": 1}
    finally:
        jctx.plugins.pm.unregister(plugin)
    secret = SANDBOX_CREDENTIALS["secret"]
    with jctx.transaction() as session:
        (shown,) = [g["last_error"] for g in configs.list_gateways(jctx, session, jtenant)
                    if g["name"] == "sandbox"]
    assert shown == "the Sandbox (test gateway) plugin failed (RuntimeError); loket's log " \
                    "has the details"
    (todo,) = todos(jctx, "gateway.handshake_failed")
    (mail,) = smtp.to(ADMINS[0])
    assert secret not in todo.detail and secret not in mail["body"]
    (logged,) = [r for r in caplog.records if r.exc_info]  # the details, for operators
    assert logged.exc_info[0] is RuntimeError


class Hanging:
    """A gateway that does not answer the handshake until released, then refuses it."""

    LOKET_CONTRACT = "1"

    def __init__(self):
        self.called, self.release = threading.Event(), threading.Event()

    @hookimpl(tryfirst=True)
    def loket_gateway_handshake(self, config):
        self.called.set()
        self.release.wait(30)
        raise GatewayError("refused", gateway_message="Invalid API key")


def test_a_hanging_gateway_does_not_block_the_admin_nor_outlive_the_change(jctx, jtenant):
    def switch_off():
        with jctx.transaction() as session:
            configs.set_active(jctx, session, ACTOR, jtenant, "sandbox", False)

    gateway = Hanging()
    jctx.plugins.pm.register(gateway, name="hanging")
    try:
        with ThreadPoolExecutor(2) as pool:
            sweep = pool.submit(handshake.handshake_sweep, jctx)
            assert gateway.called.wait(10)
            admin = pool.submit(switch_off)
            try:
                admin.result(timeout=5)  # while the gateway still has not answered
            finally:
                gateway.release.set()
            assert sweep.result(timeout=30) == {"ok": 0, "failed": 0, "alerted": 0}
    finally:
        gateway.release.set()
        jctx.plugins.pm.unregister(gateway)
    with jctx.transaction() as session:
        row = configs.get_row(session, jtenant, "sandbox")
        assert (row.active, row.last_handshake_at, row.last_handshake_error) == (
            False, None, None)
    assert todos(jctx, "gateway.handshake_failed") == []
