"""Bulk reads and writes: rows found by thousands of ids at once, exactly those asked for,
with their columns typed as the model reads them."""

import datetime as dt
import uuid
from enum import StrEnum

import pytest
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    event,
    select,
)
from support.engine import ACTOR

from loket.core import bulk
from loket.core.host.receivables import upsert_consumer
from loket.core.models import Consumer
from loket.core.models.base import UTCDateTime


def test_rows_by_id_returns_the_rows_asked_for_and_no_other(ctx, tenant_id):
    with ctx.transaction() as session:
        for i in range(30):
            upsert_consumer(session, ACTOR, tenant_id, {"account_number": f"B-{i}",
                                                        "name": f"Bulk {i}"})
        ids = session.scalars(select(Consumer.id).where(
            Consumer.account_number.like("B-%")).order_by(Consumer.id)).all()
        wanted = [*ids[::3], ids[0], max(ids) + 1000]  # a repeat and an id nobody has
        rows = bulk.rows_by_id(session, Consumer.__table__, wanted)
        assert sorted(r.id for r in rows) == ids[::3]
        by_id = {r.id: r for r in rows}
        assert by_id[ids[3]].account_number == "B-3"
        assert by_id[ids[3]].created_at.tzinfo is not None  # typed as the model reads it
        assert bulk.rows_by_id(session, Consumer.__table__, []) == []
        copies, read = bulk.editable(rows, _new=False), rows[0].name
        copies[0].name = "Changed"  # working copies a bulk write changes in memory
        assert (copies[0].id, copies[0]._new, rows[0].name) == (rows[0].id, False, read)


def test_thousands_of_ids_travel_as_one_value_on_postgresql(pg_ctx):
    sent: list[str] = []
    event.listen(pg_ctx.engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_a: sent.append(statement))
    with pg_ctx.transaction() as session:
        assert bulk.rows_by_id(session, Consumer.__table__, range(1, 5001)) == []
    [statement] = [s for s in sent if "FROM consumers" in s]
    assert len(statement) < 1000  # not an IN list of 5,000 placeholders


def _probe_table(name: str) -> Table:
    """A table with a column of every type loket writes in bulk."""
    return Table(
        name, MetaData(),
        Column("id", Integer, primary_key=True),
        Column("count", Integer), Column("amount", BigInteger), Column("label", String(40)),
        Column("note", Text), Column("data", JSON), Column("due", Date),
        Column("stamped", UTCDateTime), Column("flag", Boolean),
        Column("body", LargeBinary), Column("status", String(20)))


class _Status(StrEnum):
    OPEN = "open"


def test_rows_written_in_bulk_read_back_as_given_whatever_their_types(ctx):
    table = _probe_table(f"bulk_probe_{uuid.uuid4().hex[:8]}")
    table.create(ctx.engine)
    at = dt.datetime(2026, 12, 3, 17, 5, 1, 123456, tzinfo=dt.UTC)
    given = [
        {"count": 2**31 - 1, "amount": 10**15 + 7, "label": "Açaí, 'quoted'\ttab\\n",
         "note": "line\nbreak", "data": {"items": [1, "två", None], "ok": True},
         "due": dt.date(2026, 2, 28), "stamped": at, "flag": True, "body": b"\x00\xff",
         "status": _Status.OPEN},
        {"count": None, "amount": -1, "label": None, "note": "", "data": None, "due": None,
         "stamped": None, "flag": False, "body": None, "status": None},
    ]
    try:
        with ctx.transaction() as session:
            ids = bulk.insert_rows(session, table, given, want_ids=True)
        with ctx.transaction() as session:
            read = [session.execute(select(table).where(table.c.id == i)).one()._asdict()
                    for i in ids]
        assert [{k: v for k, v in row.items() if k != "id"} for row in read] == given
        assert read[0]["stamped"] == at and read[1]["data"] is None  # NULL, not JSON null

        changed = {"count": 7, "amount": 2**40, "label": "x", "note": None,
                   "data": [{"a": "é"}], "due": dt.date(2027, 1, 1), "stamped": at,
                   "flag": None, "body": b"", "status": "closed"}
        with ctx.transaction() as session:
            bulk.update_rows(session, table, [{"id": ids[1], **changed}])
        with ctx.transaction() as session:
            row = session.execute(select(table).where(table.c.id == ids[1])).one()._asdict()
        assert row == {"id": ids[1], **changed}
    finally:
        table.drop(ctx.engine)


@pytest.mark.parametrize(("column", "value"), [
    ("count", 2**31), ("count", -(2**31) - 1), ("flag", "false")])
def test_a_value_its_column_cannot_hold_is_refused_not_wrapped_on_postgresql(
        pg_ctx, column, value):
    table = _probe_table(f"bulk_probe_{uuid.uuid4().hex[:8]}")
    table.create(pg_ctx.engine)
    try:
        with pytest.raises(ValueError, match=column), pg_ctx.transaction() as session:
            bulk.insert_rows(session, table, [{"label": "ok", column: None},
                                              {"label": "bad", column: value}])
        with pg_ctx.transaction() as session:
            assert session.execute(select(table)).all() == []
    finally:
        table.drop(pg_ctx.engine)
