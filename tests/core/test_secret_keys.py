"""LOKET_SECRET_KEY: production entry points refuse to run without it; a rotation keeps
payers' sessions, return links, payment links, console sessions and the results signed for
the tenant's own page (the newest key signs, every configured key verifies)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import attrs
import falcon.testing
import pytest

from loket.core.autopay import mandates
from loket.core.config import AppConfig
from loket.core.context import Loket
from loket.core.gateway_configs import configs
from loket.core.guests import identification
from loket.core.links import tokens
from loket.core.payments import returns
from loket.core.secrets import SecretBox
from loket.core.tenants import TokenSigner
from loket.errors import ConfigurationError, NotFound, Unauthorized
from loket.server.app import create_app, get_app
from loket.web import session


def test_get_app_refuses_to_start_without_a_secret_key(monkeypatch, tmp_path):
    monkeypatch.delenv("LOKET_SECRET_KEY", raising=False)
    monkeypatch.setenv("LOKET_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("LOKET_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(ConfigurationError, match="LOKET_SECRET_KEY is not set"):
        get_app()
    assert not (tmp_path / "var" / "secret.key").exists()


def test_the_worker_refuses_to_start_without_a_secret_key(monkeypatch, tmp_path):
    from loket.cli import main
    monkeypatch.delenv("LOKET_SECRET_KEY", raising=False)
    monkeypatch.setenv("LOKET_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("LOKET_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    assert main(["worker", "--no-periodic"]) == 2
    assert not (tmp_path / "var" / "secret.key").exists()


def test_development_commands_create_one_random_key_and_reuse_it(monkeypatch, tmp_path):
    monkeypatch.delenv("LOKET_SECRET_KEY", raising=False)
    env = {"LOKET_VAR_DIR": str(tmp_path / "var")}
    first = AppConfig.from_env(env, development_key=True).secret_keys
    again = AppConfig.from_env(env, development_key=True).secret_keys
    other = AppConfig.from_env({"LOKET_VAR_DIR": str(tmp_path / "elsewhere")},
                               development_key=True).secret_keys
    assert first == again and first != other
    SecretBox(first)  # a well-formed key
    assert (tmp_path / "var" / "secret.key").stat().st_mode & 0o077 == 0
    assert "ZGV2LW9ubHkta2V5" not in first[0]  # not the key once published in the source


def _ctx_with_keys(ctx, keys: tuple[str, ...]) -> Loket:
    """The same database and plugins under another LOKET_SECRET_KEY."""
    config = attrs.evolve(ctx.config, secret_keys=keys)
    return Loket.create(config, plugins=ctx.plugins, engine=ctx.engine, clock=ctx.clock)


def test_a_rotation_keeps_consumer_sessions_and_return_links(ctx, tenant_id):
    old = ctx.config.secret_keys[0]
    now = int(ctx.now().timestamp())
    token = TokenSigner.for_keys((old,)).consumer_token(tenant_id, "WU-10001", 3600, now=now)
    return_url, _cancel = configs.return_urls(ctx, tenant_id, "PAY-1", ctx.now())
    query = parse_qs(urlsplit(return_url).query)

    rotated = _ctx_with_keys(ctx, (SecretBox.generate_key(), old))
    client = falcon.testing.TestClient(create_app(rotated))
    seen = client.simulate_get("/v1/me",
                               headers={"Authorization": f"Bearer {token}"})
    assert seen.status_code == 200, seen.text
    assert configs.verify_return(rotated, "PAY-1", "success", query["sig"][0]) == tenant_id

    # New tokens are signed with the newest key: the old key alone no longer verifies them.
    fresh = TokenSigner.for_keys(rotated.config.secret_keys).consumer_token(
        tenant_id, "WU-10001", 3600, now=now)
    TokenSigner.for_keys(rotated.config.secret_keys).verify(fresh, now=now)
    with pytest.raises(Unauthorized):
        TokenSigner.for_keys((old,)).verify(fresh, now=now)

    # Once the old key is removed, what it signed is refused.
    retired = _ctx_with_keys(ctx, (rotated.config.secret_keys[0],))
    refused = falcon.testing.TestClient(create_app(retired)).simulate_get(
        "/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401
    with pytest.raises(NotFound):
        configs.verify_return(retired, "PAY-1", "success", query["sig"][0])


def test_a_rotation_keeps_guest_payer_tokens_and_mandate_returns(ctx, tenant_id):
    old = ctx.config.secret_keys[0]
    exp = int(ctx.now().timestamp()) + 600
    token = TokenSigner.for_keys((old,)).sign({"typ": identification.GUEST_TOKEN,
                                               "tid": tenant_id, "acct": "WU-10001",
                                               "sid": "s1", "exp": exp})
    success, _cancel = mandates.return_urls(ctx, tenant_id, "MDT-1", ctx.now())
    sig = parse_qs(urlsplit(success).query)["sig"][0]

    rotated = _ctx_with_keys(ctx, (SecretBox.generate_key(), old))
    guest = identification.verify_token(rotated, f"Bearer {token}", tenant_id)
    assert (guest.tenant_id, guest.account_number) == (tenant_id, "WU-10001")
    assert mandates.verify_return(rotated, "MDT-1", "success", sig) == tenant_id

    retired = _ctx_with_keys(ctx, (rotated.config.secret_keys[0],))
    with pytest.raises(Unauthorized):
        identification.verify_token(retired, f"Bearer {token}", tenant_id)


def test_a_rotation_keeps_the_tenants_signed_results_until_the_old_key_goes(ctx, tenant_id):
    now = int(ctx.now().timestamp())
    copied = returns.result_secret(ctx, tenant_id)  # what the tenant's page was set up with

    def result_under(keys: tuple[str, ...]) -> dict[str, str]:
        url = returns.signed_result_url(
            returns.result_secrets(_ctx_with_keys(ctx, keys), tenant_id),
            "https://water.example/paid", "PAY-1", "succeeded", "success", now)
        return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}

    old, new = ctx.config.secret_keys[0], SecretBox.generate_key()
    rotated = _ctx_with_keys(ctx, (new, old))
    shown = returns.result_secret(rotated, tenant_id)  # the console now shows the new one
    assert shown != copied
    during = result_under((new, old))
    assert returns.verify_signed_result(copied, during, now)
    assert returns.verify_signed_result(shown, during, now)

    after = result_under((new,))
    assert returns.verify_signed_result(shown, after, now)
    assert not returns.verify_signed_result(copied, after, now)


def test_a_rotation_keeps_payment_links_and_console_sessions(ctx):
    old, new = ctx.config.secret_keys[0], SecretBox.generate_key()
    link_token = tokens.token_for(old, "pl_abc")
    cookie = session.seal(ctx, session.ConsoleSession("sk_test_x", "csrf", expires=2_000))

    rotated = _ctx_with_keys(ctx, (new, old))
    assert tokens.key_of(rotated.config.secret_keys, link_token) == "pl_abc"
    assert session.unseal(rotated, cookie, now=1_000) is not None

    retired = _ctx_with_keys(ctx, (new,))
    with pytest.raises(NotFound, match="no such payment link"):
        tokens.key_of(retired.config.secret_keys, link_token)
    assert session.unseal(retired, cookie, now=1_000) is None  # back to the sign-in page
