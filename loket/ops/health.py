"""The checks behind ``/health/ready`` and ``loket doctor``: each says whether one
dependency is usable and, when it is not, what to fix.

Each check takes what it needs, never raises, and returns a :class:`Check`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import attrs
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Engine

from loket.core.migrate import alembic_config


class Status(enum.StrEnum):
    """The verdict of one check."""

    OK = "ok"
    WARN = "warn"  # usable, but not as production should be
    FAIL = "fail"


@attrs.frozen
class Check:
    """The result of one check: its name, verdict, what was found and what to do."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    @property
    def ok(self) -> bool:
        """Whether the dependency is usable (``ok`` or ``warn``)."""
        return self.status != Status.FAIL

    def as_dict(self) -> dict[str, str]:
        """The check as JSON for ``/health/ready``."""
        out = {"status": str(self.status), "detail": self.detail}
        if self.fix:
            out["fix"] = self.fix
        return out


def _error(exc: BaseException) -> str:
    text_ = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text_[0][:200]}" if text_ else type(exc).__name__


def database(engine: Engine) -> Check:
    """Whether the database answers ``SELECT 1``."""
    where = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - a check reports
        return Check("database", Status.FAIL, f"{where} is unreachable ({_error(exc)})",
                     "start the database or correct LOKET_DATABASE_URL "
                     "(postgresql+psycopg://user:password@host:5432/name)")
    return Check("database", Status.OK, f"{where} answers")


def head_revisions(engine: Engine) -> set[str]:
    """The migration heads this loket ships."""
    return set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())


def migrations(engine: Engine) -> Check:
    """Whether the database schema is at the newest migration this loket ships.

    A schema *newer* than this code (a revision it does not know: another machine already
    ran a later release's ``loket db upgrade``) is a warning, not a fault, so old processes
    keep serving during a rolling upgrade.
    """
    try:
        script = ScriptDirectory.from_config(alembic_config(engine))
        heads = set(script.get_heads())
        with engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    except Exception as exc:  # noqa: BLE001 - a check reports
        return Check("migrations", Status.FAIL, f"cannot read the schema version "
                     f"({_error(exc)})", "make the database reachable, then run "
                     "`loket db upgrade`")
    if current == heads:
        return Check("migrations", Status.OK, f"at head {', '.join(sorted(heads))}")
    unknown = sorted(rev for rev in current if not _known(script, rev))
    if unknown:
        return Check("migrations", Status.WARN, f"schema at {', '.join(unknown)}, newer than "
                     f"this code ({', '.join(sorted(heads))})", "finish rolling out the "
                     "release that migrated the database")
    found = ", ".join(sorted(current)) or "none (empty database)"
    return Check("migrations", Status.FAIL, f"schema at {found}, this loket needs "
                 f"{', '.join(sorted(heads))}", "run `loket db upgrade` (once, from any "
                 "machine with the same LOKET_DATABASE_URL)")


def database_fault(engine: Engine) -> Check | None:
    """Called after a statement failed: the reason an operator can act on (the database
    unreachable, or its schema not at this loket's migrations), or ``None`` when both are
    as they should be."""
    for check in (database, migrations):  # the second only once the first passed
        found = check(engine)
        if found.status == Status.FAIL:
            return found
    return None


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except Exception:  # noqa: BLE001 - alembic raises for a revision it does not have
        return False


def queue(config: Any, depth: Callable[[], int]) -> Check:
    """Whether the job queue answers (``depth`` asks it how many tasks wait)."""
    kind = (getattr(config, "queue", None) or "sqlite").lower()
    try:
        if kind == "redis" and config.redis_url:
            import redis  # noqa: PLC0415 - only for the Redis queue

            client = redis.Redis.from_url(config.redis_url, socket_connect_timeout=2,
                                          socket_timeout=2)
            try:
                client.ping()
            finally:
                client.close()
        waiting = depth()
    except Exception as exc:  # noqa: BLE001 - a check reports
        fix = {"redis": "start Redis or correct LOKET_REDIS_URL (redis://host:6379/0)",
               "postgres": "the queue lives in LOKET_DATABASE_URL: make it reachable"}.get(
            kind, "check LOKET_QUEUE (sqlite, redis or postgres) and LOKET_VAR_DIR")
        return Check("queue", Status.FAIL, f"{kind} queue unreachable ({_error(exc)})", fix)
    return Check("queue", Status.OK, f"{kind} queue answers, {waiting} task(s) waiting")


TALLY_BACKLOG = 100_000
"""Tally change rows waiting to be folded into the dashboard's tallies beyond which the
worker is presumed not to be folding them (it folds every minute)."""


def tallies(engine: Engine, backlog: int = TALLY_BACKLOG) -> Check:
    """Whether the dashboard's tally changes are being folded (PostgreSQL keeps tallies; a
    backlog slows the dashboard, it never makes it wrong)."""
    if engine.dialect.name != "postgresql":
        return Check("tallies", Status.OK, "not kept on this database (the dashboard sums "
                     "the payments)")
    try:
        with engine.connect() as connection:
            waiting = connection.scalar(text(
                "SELECT count(*) FROM (SELECT 1 FROM payment_tally_changes LIMIT :over) AS w"),
                {"over": backlog + 1}) or 0
    except Exception as exc:  # noqa: BLE001 - a check reports
        return Check("tallies", Status.WARN, f"not read ({_error(exc)})")
    if waiting > backlog:
        return Check("tallies", Status.WARN, f"more than {backlog:,} tally changes wait to "
                     "be folded into the dashboard's tallies",
                     "run `loket worker` (its task payment_tallies folds them every minute) "
                     "or `loket jobs run tallies`")
    return Check("tallies", Status.OK, f"{waiting} tally change(s) wait to be folded")


def secret_key(config: Any) -> Check:
    """Whether a well-formed ``LOKET_SECRET_KEY`` is configured.

    :returns: the check: failed without a key or with a malformed one.
    """
    keys = tuple(getattr(config, "secret_keys", None) or ())
    fix = "set LOKET_SECRET_KEY to the output of `loket keys generate` (the same value on " \
          "every machine; comma-separate old keys after the new one while rotating)"
    if not keys:
        return Check("secret_key", Status.FAIL, "LOKET_SECRET_KEY is not set", fix)
    from loket.core.secrets import SecretBox  # noqa: PLC0415
    try:
        SecretBox(keys)
    except Exception as exc:  # noqa: BLE001 - a check reports
        return Check("secret_key", Status.FAIL, getattr(exc, "detail", None) or _error(exc),
                     fix)
    return Check("secret_key", Status.OK, f"{len(keys)} key(s) configured")


def readiness(ctx: Any, depth: Callable[[], int]) -> list[Check]:
    """The checks of ``/health/ready``: database, migrations, queue, secret key."""
    db = database(ctx.engine)
    checks = [db]
    if db.ok:
        checks.append(migrations(ctx.engine))
    else:
        checks.append(Check("migrations", Status.FAIL, "not checked: the database is "
                            "unreachable", db.fix))
    checks.append(queue(ctx.config, depth))
    checks.append(secret_key(ctx.config))
    return checks
