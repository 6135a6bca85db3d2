"""Schema migrations with Alembic (``loket db upgrade``)."""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

from loket.core.models import TRIGRAM_INDEXES, Base
from loket.core.models.indexes import SQLITE_SEARCH

_SEARCH_TABLES = tuple(fts for fts, _table, _expression, _columns in SQLITE_SEARCH)
_TRIGRAM_NAMES = frozenset(name for name, _table, _expression in TRIGRAM_INDEXES)


def alembic_config(engine: Engine, connection=None) -> Config:
    """An Alembic configuration pointing at loket's migrations."""
    config = Config()
    config.set_main_option("script_location", str(files("loket") / "migrations"))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database schema up to ``revision``."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(engine, connection), revision)


def revision(engine: Engine, message: str) -> None:
    """Autogenerate a new migration from the models (developers only)."""
    with engine.begin() as connection:
        command.revision(alembic_config(engine, connection), message=message, autogenerate=True)


def pending_differences(engine: Engine) -> list:
    """What the migrated schema lacks compared to the models (empty when in step).
    PostgreSQL's trigram indexes (``TRIGRAM_INDEXES``, created outside the declared
    indexes) are left out."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": declared})
        return compare_metadata(context, Base.metadata)


def declared(obj, name, type_, reflected, compare_to) -> bool:
    """Whether the schema comparison looks at ``obj``: not at the trigram indexes nor at
    SQLite's full-text search tables (and the shadow tables FTS5 keeps beside them)."""
    if type_ == "table" and name and name.startswith(_SEARCH_TABLES):
        return False
    return not (type_ == "index" and name in _TRIGRAM_NAMES)
