"""Fixtures of the core test suite.

The suite runs on SQLite by default and on PostgreSQL with ``LOKET_TEST_DB=postgresql``
(``make test`` runs both). Each run creates its own throw-away PostgreSQL database, and
every test starts from empty tables.
"""

from __future__ import annotations

import pytest
from support.db import BACKEND, build_ctx, empty_postgres_database, pg_available
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
    with empty_postgres_database("loket_test") as url:
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        engine.dispose()
        yield url


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
