"""Fixtures of the core test suite.

The suite runs on SQLite by default and on PostgreSQL with ``LOKET_TEST_DB=postgresql``
(``make test`` runs both). Each run creates its own throw-away PostgreSQL database, and
every test starts from empty tables.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, text
from support.db import BACKEND, PG_ADMIN_URL, build_ctx, pg_available
from support.engine import seed

from loket.core.db import make_engine
from loket.core.models import Base
from loket.core.tenants import TokenSigner
from loket.plugins import Plugins

pytest_plugins = ["support.hook_coverage"]


@pytest.fixture(scope="session")
def pg_url():
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
