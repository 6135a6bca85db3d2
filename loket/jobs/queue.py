"""Which Huey storage the jobs use.

- ``SqliteHuey`` in ``{var_dir}/huey.db``, beside the embedded database (the default: one
  machine, nothing to install);
- ``RedisHuey`` when ``LOKET_REDIS_URL`` is set (``LOKET_QUEUE=redis``): several machines;
- ``PostgresHuey`` with ``LOKET_QUEUE=postgres``: the queue lives in loket's own PostgreSQL
  database (tables ``huey_*``), one moving part less. Huey ships it since 3.x and needs
  psycopg 3.2+, which loket already uses. Its tables are created by the first process that
  opens the queue, under an advisory lock: processes started together on a new database
  (gunicorn's workers, an API beside a worker) would otherwise race to create the same
  table and all but one fail to start.

loket revokes no task, so its queues check no revocation: huey otherwise reads a task's
revocation flags before running it and clears them after, two storage round trips a task
(two transactions on PostgreSQL, as many as the task's own work for a small batch of
webhook events).
"""

from __future__ import annotations

from huey import PostgresHuey, RedisHuey, SqliteHuey
from huey.api import Huey
from huey.storage import PostgresStorage
from sqlalchemy.engine import make_url

from loket.errors import ConfigurationError

DEFAULT_NAME = "loket"

_SCHEMA_LOCK = 0x6C6F6B65745F71  # the advisory lock that serialises creating huey's tables


class _NoRevocation:
    """A Huey whose tasks are never revoked: running one reads and clears no flag."""

    def is_revoked(self, task, timestamp=None, peek=True) -> bool:
        """Never: loket revokes no task."""
        return False

    def revoke(self, task, revoke_until=None, revoke_once=False):
        """Refused: a revoked task would run all the same."""
        raise NotImplementedError("loket's queues do not revoke tasks")

    def revoke_all(self, task_class, revoke_until=None, revoke_once=False):
        """Refused, as :meth:`revoke`."""
        raise NotImplementedError("loket's queues do not revoke tasks")

    def delete(self, key):
        """Delete a stored value, except a revocation flag (there is none to clear)."""
        if isinstance(key, str) and key.startswith("r:"):
            return False
        return super().delete(key)  # type: ignore[misc]


class LoketSqliteHuey(_NoRevocation, SqliteHuey):
    """The embedded queue, without revocation."""


class LoketRedisHuey(_NoRevocation, RedisHuey):
    """The Redis queue, without revocation."""


class LoketPostgresHuey(_NoRevocation, PostgresHuey):
    """The PostgreSQL queue, without revocation."""


def postgres_dsn(database_url: str) -> str:
    """A libpq DSN from loket's SQLAlchemy URL (``postgresql+psycopg://…``)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise ConfigurationError("LOKET_QUEUE=postgres needs LOKET_DATABASE_URL to be a "
                                 "PostgreSQL URL")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def make_huey(config, name: str | None = None) -> Huey:
    """The Huey instance for a configuration (see the module docstring).

    :param config: the :class:`~loket.core.config.AppConfig`.
    :param name: the queue name; producers and workers must agree (default: the
        configuration's ``queue_name``, ``LOKET_QUEUE_NAME``).
    """
    name = name or getattr(config, "queue_name", None) or DEFAULT_NAME
    queue = (config.queue or "sqlite").lower()
    if queue == "redis":
        if not config.redis_url:
            raise ConfigurationError("LOKET_QUEUE=redis needs LOKET_REDIS_URL")
        return LoketRedisHuey(name, url=config.redis_url, results=False)
    if queue in ("postgres", "postgresql"):
        huey = LoketPostgresHuey(name, dsn=postgres_dsn(config.database_url),
                                 results=False, create_tables=False)
        _create_tables(huey.storage)
        return huey
    if queue == "sqlite":
        path = config.var_dir / "huey.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        return LoketSqliteHuey(name, filename=str(path), results=False)
    raise ConfigurationError(f"LOKET_QUEUE must be sqlite, redis or postgres, not {queue!r}")


def _create_tables(storage: PostgresStorage) -> None:
    """Create the queue's tables if they are missing, one process at a time (PostgreSQL's
    ``CREATE TABLE IF NOT EXISTS`` is not safe against a concurrent one)."""
    with storage.db(commit=True, close=True) as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        for statement in storage.ddl:
            cursor.execute(statement)
