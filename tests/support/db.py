"""Databases for tests: the selected backend, throw-away PostgreSQL, containers.

Shared by tests/conftest.py and test helpers (import it by this unique name, never
``conftest``: several conftest.py files are collected in one run).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

from sqlalchemy import create_engine, event, text

from loket.core.config import AppConfig
from loket.core.context import Loket
from loket.core.db import make_engine
from loket.core.models import Base
from loket.core.secrets import SecretBox

PG_ADMIN_URL = os.environ.get("LOKET_TEST_PG_ADMIN",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BACKEND = os.environ.get("LOKET_TEST_DB", "sqlite")


TEST_SECRET_KEY = SecretBox.generate_key()
"""This test run's LOKET_SECRET_KEY (random: no key in the source is ever used)."""

def statements_sent(engine) -> list[str]:
    """A list that fills with every SQL statement ``engine`` sends from now on."""
    sent: list[str] = []
    event.listen(engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_a: sent.append(statement))
    return sent


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


@contextlib.contextmanager
def empty_postgres_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database named ``{prefix}_…``, dropped on leaving; yields its
    URL (the caller has checked :func:`pg_available`)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _empty_postgres(url: str):
    engine = make_engine(url, pool_size=30, max_overflow=10)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return engine


def build_ctx(tmp_path, plugins, backend: str, request, base_url: str = "http://testserver",
              gateway_options: dict | None = None) -> Loket:
    """A container on a fresh database of ``backend`` (sqlite or postgresql); ``base_url``
    is where webhook and return URLs point, ``gateway_options`` e.g. emulator addresses."""
    if backend == "postgresql":
        url = request.getfixturevalue("pg_url")
        engine = _empty_postgres(url)
    else:
        url = f"sqlite:///{tmp_path / 'loket.db'}"
        engine = make_engine(url)
        Base.metadata.create_all(engine)
    # Host webhook receivers of the tests listen on loopback, over http.
    config = AppConfig(database_url=url, var_dir=tmp_path / "var", base_url=base_url,
                       gateway_options=gateway_options or {}, secret_keys=(TEST_SECRET_KEY,),
                       host_webhooks_allow_private=True)
    ctx = Loket.create(config, plugins=plugins, engine=engine)
    return ctx
