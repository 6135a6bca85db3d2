"""Fixtures of the core test suite.

The suite runs on SQLite by default and on PostgreSQL with ``LOKET_TEST_DB=postgresql``
(``make test`` runs both). Each run creates its own throw-away PostgreSQL database, and
every test starts from empty tables.
"""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text

from loket.core.config import AppConfig
from loket.core.context import Loket
from loket.core.db import make_engine
from loket.core.models import Base
from loket.core.tenants import TokenSigner
from loket.plugins import Plugins

from engine_support import ACTOR, seed  # noqa: F401 - ACTOR re-exported for older helpers

PG_ADMIN_URL = os.environ.get("LOKET_TEST_PG_ADMIN",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BACKEND = os.environ.get("LOKET_TEST_DB", "sqlite")


def pg_available() -> bool:
    """Whether the local PostgreSQL answers."""
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 2})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001
        return False


@pytest.fixture(scope="session")
def pg_url(worker_id="master"):
    """A throw-away PostgreSQL database for this run (dropped at the end)."""
    if not pg_available():
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432 — PostgreSQL tests SKIPPED")
    name = f"loket_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def plugins():
    """The plugin manager with every installed plugin (loaded once per run)."""
    return Plugins()


def _empty_postgres(url: str):
    engine = make_engine(url, pool_size=30, max_overflow=10)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return engine


def build_ctx(tmp_path, plugins, backend: str, request) -> Loket:
    """A container on a fresh database of ``backend`` (sqlite or postgresql)."""
    if backend == "postgresql":
        url = request.getfixturevalue("pg_url")
        engine = _empty_postgres(url)
    else:
        url = f"sqlite:///{tmp_path / 'loket.db'}"
        engine = make_engine(url)
        Base.metadata.create_all(engine)
    config = AppConfig(database_url=url, var_dir=tmp_path / "var",
                       base_url="http://testserver")
    ctx = Loket.create(config, plugins=plugins, engine=engine)
    return ctx


@pytest.fixture
def ctx(tmp_path, plugins, request):
    """A loket container on an empty database of the selected backend."""
    ctx = build_ctx(tmp_path, plugins, BACKEND, request)
    yield ctx
    ctx.engine.dispose()


@pytest.fixture
def pg_ctx(tmp_path, plugins, request):
    """A loket container on PostgreSQL whatever the selected backend (concurrency tests)."""
    ctx = build_ctx(tmp_path, plugins, "postgresql", request)
    yield ctx
    ctx.engine.dispose()


@pytest.fixture
def signer(ctx):
    """The token signer of the container."""
    return TokenSigner(ctx.config.secret_keys[0].encode())


@pytest.fixture
def tenant_id(ctx) -> int:
    """A tenant with the demo consumers and receivables."""
    return seed(ctx)
