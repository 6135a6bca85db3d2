"""Built-ins are found through the ``loket`` entry points like any plugin; plugins can be
disabled by settings; an installed processor with a built-in's name replaces it."""

import os
import subprocess
import sys

import pytest

from loket import hookimpl
from loket.core import migrate
from loket.plugins import Plugins
from loket.types import Allocation, DestinationDescription


def test_built_ins_come_from_the_entry_points(plugins):
    infos = {i.name: i for i in plugins.infos()}
    assert infos["sandbox"].kind == "gateway" and infos["sandbox"].distribution == "loket"
    for name in ("bill", "service", "installment", "payplan"):
        assert infos[name].kind == "destination"
        assert "loket_destination_apply" in infos[name].hooks
    assert set(plugins.destinations) >= {"bill", "service", "installment", "payplan"}
    assert "sandbox" in plugins.gateways


def test_a_plugin_can_be_disabled_by_settings():
    plugins = Plugins(blocked=("sandbox", "payplan"))
    assert "sandbox" not in plugins.gateways and "payplan" not in plugins.destinations
    assert "bill" in plugins.destinations


class HostBillProcessor:
    """A host's own ``bill`` processor: pays nothing of the bill (everything is credit)."""

    LOKET_CONTRACT = "1"

    @hookimpl
    def loket_destination_describe(self):
        return DestinationDescription(name="bill", title="Host bills", target_schema={})

    @hookimpl
    def loket_destination_apply(self, processor, ledger, resolved, amount):
        if processor != "bill":
            return None
        first = resolved.obligations[0]
        return [Allocation(first.receivable_id, amount.__class__(1, amount.currency))]


def test_an_installed_processor_replaces_the_built_in():
    plugins = Plugins(extra=(HostBillProcessor(),))
    assert plugins.destinations["bill"].title == "Host bills"
    assert plugins.destinations["service"].title == "Pay a service charge"


def test_migrations_build_the_same_schema_as_the_models(ctx):
    if ctx.engine.dialect.name == "postgresql":
        pytest.skip("checked on the throw-away SQLite database; PostgreSQL in the run below")
    from loket.core.db import make_engine
    engine = make_engine(f"sqlite:///{ctx.config.var_dir.parent / 'migrated.db'}")
    migrate.upgrade(engine)
    assert migrate.pending_differences(engine) == []


def test_migrations_on_postgres_match_the_models(pg_url):
    from sqlalchemy import create_engine, text

    from loket.core.db import make_engine
    admin = create_engine(pg_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    name = pg_url.rsplit("/", 1)[1] + "_mig"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        engine = make_engine(pg_url.rsplit("/", 1)[0] + f"/{name}")
        migrate.upgrade(engine)
        assert migrate.pending_differences(engine) == []
        engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))


def test_loket_plugins_command_lists_distribution_kind_and_hooks(tmp_path):
    env = {**os.environ, "LOKET_VAR_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "loket.cli", "plugins"], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert "loket plugin contract 1" in out
    assert "sandbox      gateway      loket" in out
    assert "payplan      destination  loket" in out
    assert "loket_gateway_charge" in out
