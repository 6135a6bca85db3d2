"""Engine and the one session/transaction helper.

SQLite runs in WAL mode with foreign keys on, and every transaction starts with
``BEGIN IMMEDIATE`` so concurrent writers queue instead of failing half-way.
PostgreSQL runs at READ COMMITTED; rows that money depends on are locked with
``SELECT … FOR UPDATE`` by the engine. Its connections are not pinged before each use (a
round trip per transaction): a connection the server dropped fails its transaction once and
is discarded with the rest of the pool (``pool_recycle`` retires connections older than
30 minutes before a firewall or the server can drop them quietly).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator
from typing import Any, TypeVar

from sqlalchemy import BigInteger, bindparam, cast, create_engine, event, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Session,
    make_transient_to_detached,
    sessionmaker,
)
from sqlalchemy.orm.util import identity_key

log = logging.getLogger(__name__)
_Row = TypeVar("_Row", bound=DeclarativeBase)


def make_engine(url: str, *, pool_timeout: int = 10, statement_timeout_ms: int = 0,
                **kwargs) -> Engine:
    """Create the engine for ``url`` with loket's connection settings.

    :param pool_timeout: seconds to wait for a free pooled connection before failing.
    :param statement_timeout_ms: PostgreSQL's ``statement_timeout`` (0: none).
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_recycle", 1800)
    kwargs.setdefault("pool_timeout", pool_timeout)
    if statement_timeout_ms > 0:
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args["options"] = (connect_args.get("options", "") +
                                   f" -c statement_timeout={int(statement_timeout_ms)}").strip()
        kwargs["connect_args"] = connect_args
    return create_engine(url, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return the session factory every part of loket uses."""
    return sessionmaker(engine, expire_on_commit=False)


@contextlib.contextmanager
def transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """Open a session, commit when the block ends, roll everything back if it raises.

    This is the one place loket commits; functions that touch data take a session and
    never commit behind the caller's back.
    """
    with sessions() as session:
        with session.begin():
            yield session
        info = session.info
    _after_commit(info)


def _after_commit(info: dict) -> None:
    """Run what a committed session queued (:func:`after_commit`), then raise what
    :func:`commit_then_raise` kept."""
    callbacks = info.pop("after_commit", [])
    deferred = info.pop("raise_after_commit", None)
    for callback in callbacks:
        try:
            callback()
        except Exception:  # an outbound hook must not undo or hide a committed change
            log.exception("after-commit callback %r failed", callback)
    if deferred is not None:
        raise deferred


@contextlib.contextmanager
def statements(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """Open a session whose statements each commit on their own, for work that is one
    statement, or statements each safe alone (an idempotency claim ahead of the work, a
    counter taken before a gateway call): on PostgreSQL no ``BEGIN`` and ``COMMIT`` round
    trips, so a single ``INSERT … RETURNING`` costs one. SQLite, where a transaction costs
    no round trip, gets a plain transaction.

    What is still pending in the session when the block ends is written then; at most one
    row may be, since two would not be written all or nothing. Nothing can wait for a
    commit here (:func:`after_commit` and :func:`commit_then_raise` refuse): when a block
    raises half-way, what ran before has committed on PostgreSQL and not on SQLite.

    :raises RuntimeError: more than one row left pending at the end of the block.
    """
    engine = sessions.kw["bind"]
    if engine.dialect.name != "postgresql":
        with transaction(sessions) as session:
            session.info[_EACH_ALONE] = True
            yield session
            _write_pending(session)
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        with Session(bind=connection, expire_on_commit=False) as session:
            session.info[_EACH_ALONE] = True
            yield session
            _write_pending(session)


_EACH_ALONE = "each_statement_commits"
"""``Session.info`` key of a :func:`statements` session."""


def _write_pending(session: Session) -> None:
    if len(session.new) + len(session.dirty) + len(session.deleted) > 1:
        raise RuntimeError("more than one row left to write at the end of a statements() "
                           "block: write them in a transaction")
    session.flush()


def _refuse_in_statements(session: Session, what: str) -> None:
    if session.info.get(_EACH_ALONE):
        raise RuntimeError(f"{what} needs a transaction: a statements() session has no "
                           "commit to wait for")


_OPTIMISTIC = "optimistic"
"""``Session.info`` key of a session that runs without savepoints (:func:`savepoint`)."""


class NotOptimistic(Exception):
    """Raised by a step that must not run in an optimistic session (it calls out of the
    process, which a rollback cannot undo): the caller runs the transaction again normally."""


def run_optimistically(session: Session) -> None:
    """Let the rest of ``session``'s transaction run without the savepoints of
    :func:`savepoint`: a failure that one would have confined then fails the whole
    transaction, which the caller must roll back and run again normally. For batches whose
    parts nearly always succeed. (A step that opens its own nested transaction, a held
    payment's release, still does.)"""
    session.info[_OPTIMISTIC] = True


def optimistic(session: Session) -> bool:
    """Whether ``session`` runs without savepoints (:func:`run_optimistically`): code that
    would confine a failure to a savepoint must let it fail the transaction instead."""
    return bool(session.info.get(_OPTIMISTIC))


@contextlib.contextmanager
def savepoint(session: Session) -> Iterator[None]:
    """A savepoint around the block (its changes undone if it raises), or, in an optimistic
    session, none: the failure then undoes the whole transaction."""
    if optimistic(session):
        yield
        return
    with session.begin_nested():
        yield


def commit_then_raise(session: Session, error: Exception) -> None:
    """Record the attempt, then raise: the caller's transaction commits what was written
    (e.g. a to-do for staff) and ``error`` is raised once it has."""
    _refuse_in_statements(session, "commit_then_raise")
    session.info["raise_after_commit"] = error


def after_commit(session: Session, callback) -> None:
    """Run ``callback()`` once the caller's transaction has committed (never if it rolls
    back). Used for outbound hooks: notify, track, payment status changed."""
    _refuse_in_statements(session, "after_commit")
    session.info.setdefault("after_commit", []).append(callback)


def text_length(column: Any) -> int:
    """The most characters the text column ``column`` (a table's ``Column``) keeps."""
    length = getattr(column.type, "length", None)
    if length is None:
        raise TypeError(f"{column} has no length")
    return int(length)


def money_sum(expression):
    """``SUM`` of a minor-units expression as an integer on every backend (0 when empty).

    PostgreSQL sums BIGINT as NUMERIC, which the driver hands back as a Decimal; the cast
    keeps money integral.
    """
    return cast(func.coalesce(func.sum(expression), 0), BigInteger)


def conflict_insert(bind: Engine | Session, model):
    """An ``INSERT`` into ``model`` that can say ``ON CONFLICT`` (PostgreSQL's or SQLite's,
    whichever ``bind`` — an engine or a session — runs on)."""
    engine = bind.get_bind() if isinstance(bind, Session) else bind
    return dialect_insert(engine.dialect.name, model)


def insert_if_absent(session: Session, model: type[_Row], values: dict[str, Any],
                     unique: tuple[str, ...]) -> _Row | None:
    """Insert a ``model`` row of ``values`` unless its ``unique`` key is taken (``INSERT …
    ON CONFLICT DO NOTHING``, in the session's transaction).

    :returns: the new row, already the session's own and fully loaded (persistent: setting
        an attribute updates it at the next flush). ``None`` when the unique key was taken.
    """
    statement = _insert_if_absent(session.get_bind().dialect.name, model.__table__,
                                  tuple(values), unique)
    written = session.connection().execute(statement, values).first()
    if written is None:
        return None
    # Built from what was written rather than read back: the ORM's own INSERT … RETURNING
    # of a whole row costs several times the statement.
    row = model(**values, **written._mapping)
    make_transient_to_detached(row)
    # An object the session still holds under this id was rolled back with a savepoint
    # (SQLite hands the id out again): it is not in the database, this row is.
    stale = session.identity_map.get(identity_key(model, written.id))
    if stale is not None:
        session.expunge(stale)
    session.add(row)
    return row


@functools.cache
def _insert_if_absent(dialect: str, table, columns: tuple[str, ...], unique: tuple[str, ...]):
    # Built once per dialect and use: building a statement costs as much as running it.
    # It returns what the values did not give (the id, the defaults).
    return (dialect_insert(dialect, table).values({name: bindparam(name) for name in columns})
            .on_conflict_do_nothing(index_elements=list(unique))
            .returning(*[column for column in table.columns if column.key not in columns]))


def dialect_insert(dialect: str, model):
    """An ``INSERT`` into ``model`` that can say ``ON CONFLICT`` on ``dialect``
    (``"postgresql"`` or ``"sqlite"``): for statements built once per dialect."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(model)
