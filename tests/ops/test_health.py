"""``/health/live`` and ``/health/ready``: liveness never consults a dependency; readiness
names each dependency that is not usable, with what to fix; ``/health`` answers as before."""

from __future__ import annotations

from types import SimpleNamespace

import attrs
import falcon.testing
from support.ops import free_port

from loket.core import migrate
from loket.core.config import AppConfig
from loket.core.context import Loket
from loket.core.secrets import SecretBox
from loket.ops import health
from loket.server.app import create_app


def _client(ctx) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(ctx))


def test_a_migrated_install_with_a_secret_key_is_ready(tmp_path, plugins):
    config = AppConfig(database_url=f"sqlite:///{tmp_path / 'loket.db'}",
                       secret_keys=(SecretBox.generate_key(),), var_dir=tmp_path / "var")
    ctx = Loket.create(config, plugins=plugins)
    migrate.upgrade(ctx.engine)
    client = _client(ctx)
    live = client.simulate_get("/health/live")
    assert (live.status_code, live.json) == (200, {"status": "ok"})
    ready = client.simulate_get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json["status"] == "ready"
    assert {name: c["status"] for name, c in ready.json["checks"].items()} == {
        "database": "ok", "migrations": "ok", "queue": "ok", "secret_key": "ok"}
    ctx.engine.dispose()


def test_readiness_names_each_fault_and_what_to_fix(ctx):
    # Tables made without migrations, no secret key, a Redis queue nobody runs.
    ctx.config = attrs.evolve(ctx.config, secret_keys=(), queue="redis",
                              redis_url=f"redis://127.0.0.1:{free_port()}/0")
    client = _client(ctx)
    ready = client.simulate_get("/health/ready")
    assert ready.status_code == 503
    checks = ready.json["checks"]
    assert checks["database"]["status"] == "ok"
    for name, hint in (("migrations", "loket db upgrade"), ("queue", "LOKET_REDIS_URL"),
                       ("secret_key", "loket keys generate")):
        assert checks[name]["status"] == "fail", name
        assert hint in checks[name]["fix"], name
    # Liveness and the original health answer stay as they were.
    assert client.simulate_get("/health/live").status_code == 200
    old = client.simulate_get("/health")
    assert old.status_code == 200 and old.json["database"] == "ok"
    assert "sandbox" in old.json["gateways"]


def test_an_unreachable_database_makes_the_process_unready_but_alive(tmp_path, plugins):
    config = AppConfig(database_url=f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/x",
                       secret_keys=(SecretBox.generate_key(),), var_dir=tmp_path / "var")
    ctx = Loket.create(config, plugins=plugins)
    client = _client(ctx)
    assert client.simulate_get("/health/live").status_code == 200
    ready = client.simulate_get("/health/ready")
    assert ready.status_code == 503
    assert ready.json["checks"]["database"]["status"] == "fail"
    assert "LOKET_DATABASE_URL" in ready.json["checks"]["database"]["fix"]
    assert ready.json["checks"]["migrations"]["status"] == "fail"
    ctx.engine.dispose()


def test_the_secret_key_check_reads_either_shape_of_configuration():
    key = SecretBox.generate_key()
    assert health.secret_key(SimpleNamespace(secret_keys=(key,))).status == "ok"
    assert health.secret_key(SimpleNamespace(secret_keys=())).status == "fail"
    assert health.secret_key(SimpleNamespace()).status == "fail"
    bad = health.secret_key(SimpleNamespace(secret_keys=("not-a-key",)))
    assert bad.status == "fail" and "malformed" in bad.detail


def test_a_schema_newer_than_the_code_keeps_old_processes_ready(tmp_path, plugins):
    config = AppConfig(database_url=f"sqlite:///{tmp_path / 'loket.db'}",
                       secret_keys=(SecretBox.generate_key(),), var_dir=tmp_path / "var")
    ctx = Loket.create(config, plugins=plugins)
    migrate.upgrade(ctx.engine)
    with ctx.engine.begin() as connection:  # a later release's migration ran elsewhere
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    ready = _client(ctx).simulate_get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json["checks"]["migrations"]["status"] == "warn"
    with ctx.engine.begin() as connection:  # and an older schema than the code is a fault
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
    behind = _client(ctx).simulate_get("/health/ready")
    assert behind.status_code == 503
    assert "loket db upgrade" in behind.json["checks"]["migrations"]["fix"]
    ctx.engine.dispose()


def test_a_tally_backlog_is_named_with_what_to_run(pg_ctx, ctx):
    from sqlalchemy import insert  # noqa: PLC0415
    from support.engine import ACTOR  # noqa: PLC0415

    from loket.core import tenants  # noqa: PLC0415
    from loket.core.backoffice import tallies  # noqa: PLC0415
    from loket.core.models import Payment  # noqa: PLC0415

    with pg_ctx.transaction() as session:
        tenant_id = tenants.create_tenant(session, ACTOR, "backlog", "B", {"currency": "USD"}).id
        session.execute(insert(Payment), [{
            "tenant_id": tenant_id, "number": f"P-{i}", "channel": "online", "method": "card",
            "payment_type": "bill", "status": "initiated", "currency": "USD", "amount": 100,
            "fee": 0, "amount_received": 0, "change_given": 0, "refunded": 0,
            "gateway_details": {}} for i in range(3)])
    behind = health.tallies(pg_ctx.engine, backlog=2)
    assert behind.status == health.Status.WARN and "loket jobs run tallies" in behind.fix
    with pg_ctx.transaction() as session:
        tallies.fold(session)
    assert health.tallies(pg_ctx.engine, backlog=2).status == health.Status.OK
    if ctx.engine.dialect.name == "sqlite":
        assert "not kept" in health.tallies(ctx.engine).detail
