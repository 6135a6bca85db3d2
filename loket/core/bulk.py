"""Writing many rows of one table at once, in the caller's transaction.

On PostgreSQL the rows go through ``COPY … FROM STDIN`` (ids, when wanted, taken from the
table's sequence in one query first); elsewhere through one executemany INSERT. Columns a
row leaves out get their model defaults, exactly as an ORM insert would give them.
"""

from __future__ import annotations

import functools
import json
import types
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Column,
    FromClause,
    Row,
    Table,
    TextualSelect,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from loket.core.db import dialect_insert


def insert_rows(session: Session, table: FromClause, rows: Sequence[dict[str, Any]],
                want_ids: bool = False) -> list[int]:
    """Insert ``rows`` (dicts with the same keys) into ``table``.

    :param want_ids: return the new rows' ``id`` values, in the order of ``rows``.
    :returns: the ids when asked for, else an empty list.
    """
    table = cast(Table, table)  # a model's __table__
    if not rows:
        return []
    if session.get_bind().dialect.name != "postgresql":
        if not want_ids:
            session.execute(insert(table), list(rows))
            return []
        result = session.execute(insert(table).returning(table.c.id,
                                                         sort_by_parameter_order=True), list(rows))
        return [row[0] for row in result.all()]
    return _copy(session, table, rows, want_ids)


def insert_new_rows(session: Session, table: FromClause, rows: Sequence[dict[str, Any]],
                    unique: Sequence[str], returning: Sequence[str] = ()) -> list[Row]:
    """Insert those of ``rows`` (dicts with the same keys) whose ``unique`` key (the columns
    of a unique constraint of ``table``) no row holds yet: ``INSERT … ON CONFLICT DO
    NOTHING``, so that a row another transaction is inserting meanwhile is waited for and
    then left out, never an error. Of rows sharing a key, one is inserted.

    On PostgreSQL the rows are copied into a temporary table first (``COPY``, as
    :func:`insert_rows` writes them), then inserted from it by one statement.

    :param returning: columns of the inserted rows to return.
    :returns: those columns of each row inserted (in no particular order), or an empty
        list when none were asked for.
    """
    table = cast(Table, table)
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    if dialect != "postgresql":
        statement = dialect_insert(dialect, table).on_conflict_do_nothing(
            index_elements=list(unique))
        if not returning:
            session.execute(statement, list(rows))
            return []
        return list(session.execute(statement.returning(*[table.c[c] for c in returning]),
                                    list(rows)).all())
    keys = list(rows[0])
    defaults = _defaults(table, set(keys))
    tail = [f(value) if (f := _converter(table.c[key])) else value
            for key, value in defaults.items()]
    columns = ", ".join([*keys, *defaults])
    staging = f"bulk_new_{table.name}_{abs(hash(columns)) % 10**8}"
    session.execute(text(f"CREATE TEMP TABLE IF NOT EXISTS {staging} ON COMMIT DROP AS "
                         f"SELECT {columns} FROM {table.name} WITH NO DATA"))
    _copy_into(session, staging, table, keys, rows, tail=(list(defaults), tail))
    back = f" RETURNING {', '.join(returning)}" if returning else ""
    result = session.execute(text(
        f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM {staging} "
        f"ON CONFLICT ({', '.join(unique)}) DO NOTHING{back}"))
    inserted = list(result.all()) if returning else []
    session.execute(text(f"TRUNCATE {staging}"))
    return inserted


def _defaults(table: Table, given: set[str]) -> dict[str, Any]:
    """The Python-side defaults of the columns a row leaves out (callables called once per
    block: a block's rows share one creation time, as one flush's do)."""
    out = {}
    for column in table.columns:
        if column.key in given or column.default is None or column.primary_key:
            continue
        default: Any = column.default
        out[column.key] = default.arg(None) if default.is_callable else default.arg
    return out


def _copy(session: Session, table: Table, rows: Sequence[dict[str, Any]],
          want_ids: bool) -> list[int]:
    keys = list(rows[0])
    defaults = _defaults(table, set(keys))
    tail = [f(value) if (f := _converter(table.c[key])) else value
            for key, value in defaults.items()]
    ids: list[int] = []
    if want_ids:
        sequence = func.nextval(f"{table.name}_id_seq")
        ids = list(session.scalars(select(sequence).select_from(
            func.generate_series(1, len(rows)))).all())
    _copy_into(session, table.name, table, keys, rows,
               head=["id"] if want_ids else [], heads=ids, tail=(list(defaults), tail))
    return ids


def _converter(column: Column, oid: int | None = None) -> Callable[[Any], Any] | None:
    """What a value becomes on its way into ``column`` (``None``: itself). JSON is written
    as text; an aware datetime goes as it is into a ``timestamptz`` column, a ``StrEnum``
    as its text. ``oid``: the column's type in a binary COPY, whose ``int2``, ``int4`` and
    ``bool`` values are checked (the driver would wrap a large int around, or take any
    value's truth)."""
    if isinstance(column.type, JSON):
        return _json_text
    if oid in _INT_LIMITS:
        return _checked_int(column.name, _INT_LIMITS[oid])
    if oid == 16:
        return _checked_bool(column.name)
    return None


_JSON = json.JSONEncoder(separators=(",", ":"))
"""One encoder for every value (``json.dumps`` with options builds one per call)."""


def _json_text(value: Any) -> str | None:
    return None if value is None else _JSON.encode(value)


def update_rows(session: Session, table: FromClause, rows: Sequence[dict[str, Any]]) -> None:
    """Update rows of ``table`` by ``id``: each dict holds ``id`` and the new values (the
    same keys in every dict); columns with an on-update default (``updated_at``) get it.

    On PostgreSQL the values are copied into a temporary table and applied with one
    ``UPDATE … FROM``; elsewhere by one executemany UPDATE.
    """
    table = cast(Table, table)
    if not rows:
        return
    keys = [k for k in rows[0] if k != "id"]
    stamped = {}
    for column in table.columns:
        if column.onupdate is not None and column.key not in keys:
            default: Any = column.onupdate
            stamped[column.key] = default.arg(None) if default.is_callable else default.arg
    if session.get_bind().dialect.name != "postgresql":
        session.execute(update(table).where(table.c.id == bindparam("_id")).values(
            {**{k: bindparam(k) for k in keys}, **stamped}),
            [{"_id": row["id"], **{k: row[k] for k in keys}} for row in rows])
        return
    staging = f"bulk_{table.name}_{abs(hash(tuple(keys))) % 10**8}"
    columns = ", ".join(["id", *keys])
    session.execute(text(f"CREATE TEMP TABLE IF NOT EXISTS {staging} ON COMMIT DROP AS "
                         f"SELECT {columns} FROM {table.name} WITH NO DATA"))
    _copy_into(session, staging, table, ["id", *keys], rows)
    assignments = ", ".join([f"{k} = s.{k}" for k in keys]
                            + [f"{k} = :{k}" for k in stamped])
    session.execute(text(f"UPDATE {table.name} AS t SET {assignments} FROM {staging} AS s "
                         f"WHERE t.id = s.id").bindparams(
        *[bindparam(k, v, type_=table.c[k].type) for k, v in stamped.items()]))
    session.execute(text(f"TRUNCATE {staging}"))


def _copy_into(session: Session, target: str, table: Table, keys: list[str],
               rows: Sequence[dict[str, Any]], head: Sequence[str] = (),
               heads: Sequence[Any] = (), tail: tuple[list[str], list[Any]] = ([], [])
               ) -> None:
    """COPY ``rows`` (their ``keys``) into ``target``; ``head`` names a leading column whose
    values are ``heads`` (one per row), ``tail`` trailing columns with the same value for
    every row (already converted).

    The rows travel in COPY's binary format when every column's type has one the driver
    writes (it formats a row in a sixth of the time text takes); otherwise as text.
    """
    connection = session.connection().connection.driver_connection
    assert connection is not None
    columns = [*head, *keys, *tail[0]]
    with connection.cursor() as cursor:
        oids = _binary_oids(cursor, target, columns)
        converted = [(i, f) for i, k in enumerate(keys) if (f := _converter(
            table.c[k], oids[len(head) + i] if oids else None))]
        with cursor.copy(f"COPY {target} ({', '.join(columns)}) FROM STDIN"
                         f"{' (FORMAT BINARY)' if oids else ''}") as copy:
            if oids:
                copy.set_types([_BINARY_AS_TEXT.get(oid, oid) for oid in oids])
            for index, row in enumerate(rows):
                values = [row[k] for k in keys]
                for i, f in converted:
                    values[i] = f(values[i])
                copy.write_row([heads[index], *values, *tail[1]] if head else
                               [*values, *tail[1]])


_BINARY_AS_TEXT = {114: 25, 1042: 25, 1043: 25}
"""Types whose binary form is their text (``json``, ``char``, ``varchar``), by type oid: the
driver writes them as ``text``."""
_BINARY = {16, 17, 20, 21, 23, 25, 1082, 1114, 1184} | set(_BINARY_AS_TEXT)
"""Type oids whose binary form the driver writes from the values loket holds: ``bool``,
``bytea``, ``int8``, ``int2``, ``int4``, ``text``, ``date``, ``timestamp``,
``timestamptz``."""


def _binary_oids(cursor: Any, target: str, columns: list[str]) -> list[int] | None:
    """The type oids of ``columns`` of ``target``, or ``None`` when one of them has no
    binary form loket writes (the rows then travel as text)."""
    cursor.execute("SELECT attname, atttypid::int FROM pg_attribute WHERE attrelid = "
                   "%s::regclass AND attnum > 0 AND NOT attisdropped", (target,))
    oids: dict[str, int] = dict(cursor.fetchall())
    wanted = [oids[c] for c in columns]
    return wanted if all(oid in _BINARY for oid in wanted) else None


_INT_LIMITS = {21: 2**15, 23: 2**31}
"""``int2`` and ``int4``: the driver's binary form of a larger Python int wraps around
instead of failing, so each value is checked on its way in."""


def _checked_int(column: str, limit: int) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value is not None and not -limit <= value < limit:
            raise ValueError(f"{column}: {value} is out of range for its column")
        return value
    return check


def _checked_bool(column: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value is not None and not isinstance(value, bool):
            raise ValueError(f"{column}: {value!r} is not a boolean")
        return value
    return check


def refresh_statistics(session: Session, *tables: FromClause) -> None:
    """Refresh the planner's statistics of ``tables`` (PostgreSQL ``ANALYZE``, which counts
    the rows the caller's open transaction wrote); nothing elsewhere.

    Called by a long bulk write between its blocks, so that its later lookups are planned
    for what the tables hold now. A table another transaction is analysing is skipped
    rather than waited for (that lock is held until its transaction ends).
    """
    if session.get_bind().dialect.name == "postgresql":
        names = ", ".join(cast(Table, table).name for table in tables)
        session.execute(text(f"ANALYZE (SKIP_LOCKED) {names}"))


def editable(rows: Sequence[Row], **extra: Any) -> list[types.SimpleNamespace]:
    """``rows`` as objects whose attributes can be changed (a bulk write's working copies),
    each also given ``extra`` attributes."""
    if not rows:
        return []
    names = rows[0]._fields  # the same for every row of one result
    return [types.SimpleNamespace(**extra, **dict(zip(names, row, strict=True)))
            for row in rows]


def rows_by_id(session: Session, table: FromClause, ids: Iterable[int]) -> list[Row]:
    """The rows of ``table`` whose ``id`` is one of ``ids`` (thousands of them), in no
    particular order.

    On PostgreSQL the ids travel as one array literal: an ``IN`` list of thousands of
    parameters costs more to build, and for the driver to rewrite, than the query costs the
    server.
    """
    table = cast(Table, table)
    wanted = sorted(set(ids))
    if not wanted:
        return []
    if session.get_bind().dialect.name != "postgresql":
        return list(session.execute(select(table).where(table.c.id.in_(wanted))).all())
    return list(session.execute(_by_id_statement(table), {
        "ids": "{" + ",".join(map(str, wanted)) + "}"}).all())


@functools.cache
def _by_id_statement(table: Table) -> TextualSelect:
    names = ", ".join(c.name for c in table.columns)
    return text(f"SELECT {names} FROM {table.name} WHERE id = ANY(CAST(:ids AS bigint[]))"
                ).columns(*table.columns)


def rows_by_key(session: Session, table: FromClause, column: str, keys: Iterable[str],
                lock: bool = False, **where: Any) -> list[Row]:
    """The rows of ``table`` whose ``column`` is one of ``keys`` and whose other columns
    equal ``where`` (a list or set value: one of them), in ``id`` order.

    On PostgreSQL each key is looked up on its own through the index (a lateral join,
    planned for the values at hand each time), so the plan never depends on statistics that
    a large import in the same transaction has outdated; ``lock`` takes the rows' locks (in
    key order).
    """
    table = cast(Table, table)
    wanted = sorted(set(keys))
    if not wanted:
        return []
    if session.get_bind().dialect.name != "postgresql":
        query = select(table).where(table.c[column].in_(wanted), *[
            table.c[k].in_(v) if isinstance(v, (list, set, tuple)) else table.c[k] == v
            for k, v in where.items()]).order_by(table.c.id)
        return list(session.execute(query).all())
    conditions = [f"t.{column} = k.v"]
    # The keys travel as one JSON text: the driver writes a list of thousands of strings
    # as an array literal in Python, ten times slower than the JSON encoder.
    params: dict[str, Any] = {"keys": _JSON.encode(wanted)}
    for name, value in where.items():
        if isinstance(value, (list, set, tuple)):
            conditions.append(f"t.{name} = ANY(:w_{name})")
            params[f"w_{name}"] = sorted(value)
        else:
            conditions.append(f"t.{name} = :w_{name}")
            params[f"w_{name}"] = value
    names = ", ".join(f"r.{c.name}" for c in table.columns)
    statement = text(
        f"SELECT {names} FROM json_array_elements_text(CAST(:keys AS json)) AS k(v) "
        f"CROSS JOIN LATERAL "
        f"(SELECT * FROM {table.name} AS t WHERE {' AND '.join(conditions)}"
        f"{' FOR UPDATE' if lock else ' OFFSET 0'}) AS r ORDER BY r.id").columns(*table.columns)
    # OFFSET 0 keeps PostgreSQL from flattening the lateral subquery into a hash join that
    # reads every row of the tenant (FOR UPDATE already prevents it): 210 ms -> 20 ms for
    # 5,000 keys among 200,000 accounts.
    # The driver prepares a statement it runs often; PostgreSQL may then plan it once for
    # any values, from statistics of a table still "empty", and scan the whole table for
    # every key (seconds per block instead of milliseconds).
    session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    try:
        return list(session.execute(statement, params).all())
    finally:
        session.execute(text("SET LOCAL plan_cache_mode = auto"))
