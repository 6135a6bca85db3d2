"""Bulk reads and writes: rows found by thousands of ids at once, exactly those asked for,
with their columns typed as the model reads them."""

from sqlalchemy import event, select
from support.engine import ACTOR

from loket.core import bulk
from loket.core.host.receivables import upsert_consumer
from loket.core.models import Consumer


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
