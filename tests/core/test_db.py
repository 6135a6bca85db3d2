"""The transaction helpers: a transaction is all or nothing; ``statements`` commits each
statement on its own on PostgreSQL (no BEGIN/COMMIT round trips) and is a plain
transaction on SQLite."""

import pytest
from sqlalchemy import event, func, select

from loket.core.db import after_commit, commit_then_raise, insert_if_absent
from loket.core.models import IdempotencyKey, Tenant


def _tenants(ctx) -> int:
    with ctx.transaction() as session:
        return session.scalar(select(func.count(Tenant.id)))


def _insert_tenant(session, slug: str) -> None:
    session.add(Tenant(slug=slug, name=slug))
    session.flush()


@pytest.mark.parametrize("kind", ["transaction", "statements"])
def test_a_block_that_raises_writes_nothing(ctx, kind):
    """Always so for a transaction; for ``statements`` on SQLite, one transaction there."""
    if kind == "statements" and ctx.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's behaviour")
    with pytest.raises(RuntimeError), getattr(ctx, kind)() as session:
        _insert_tenant(session, "gone")
        raise RuntimeError("half-way")
    assert _tenants(ctx) == 0


def test_statements_are_durable_one_by_one_on_postgres(pg_ctx):
    sent: list[str] = []
    event.listen(pg_ctx.engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_a: sent.append(statement))
    with pytest.raises(RuntimeError), pg_ctx.statements() as session:
        _insert_tenant(session, "kept")
        raise RuntimeError("after the statement")
    assert _tenants(pg_ctx) == 1  # the INSERT had committed by itself
    assert not [s for s in sent if s.split()[0].upper() in ("BEGIN", "COMMIT")]


def test_statements_commit_what_is_pending_when_the_block_ends(ctx):
    with ctx.statements() as session:
        session.add(Tenant(slug="pending", name="Pending"))
    assert _tenants(ctx) == 1


def test_statements_have_no_commit_to_wait_for(ctx):
    # On PostgreSQL a block that raises half-way keeps what ran before: there is no one
    # commit that a queued hook or error could wait for.
    with ctx.statements() as session:
        with pytest.raises(RuntimeError, match="needs a transaction"):
            after_commit(session, lambda: None)
        with pytest.raises(RuntimeError, match="needs a transaction"):
            commit_then_raise(session, ValueError("later"))


def test_statements_refuse_to_leave_two_rows_for_the_end(ctx):
    # Written at the end, two rows would not be written all or nothing on PostgreSQL.
    with pytest.raises(RuntimeError, match="more than one row"), \
            ctx.statements() as session:
        session.add_all([Tenant(slug="one", name="One"), Tenant(slug="two", name="Two")])
    assert _tenants(ctx) == 0


def test_insert_if_absent_gives_a_row_of_the_session_once_per_unique_key(ctx, tenant_id):
    values = {"tenant_id": tenant_id, "scope": "test", "key": "k-1", "request_hash": "h"}
    unique = ("tenant_id", "scope", "key")
    sent: list[str] = []
    event.listen(ctx.engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_a: sent.append(statement))
    with ctx.transaction() as session:
        row = insert_if_absent(session, IdempotencyKey, values, unique)
        assert row is not None and row.request_hash == "h"
        assert session.get(IdempotencyKey, row.id) is row  # the session's own, not read
        row.result = {"done": True}  # written at the flush like any loaded row's
        assert insert_if_absent(session, IdempotencyKey, values, unique) is None
    assert [s for s in sent if "FROM idempotency_keys" in s] == []
    with ctx.transaction() as session:
        stored = session.scalar(select(IdempotencyKey).where(IdempotencyKey.key == "k-1"))
        assert stored.result == {"done": True}
        other = insert_if_absent(session, IdempotencyKey, {**values, "key": "k-2"}, unique)
    # Fully loaded: what the database filled in is there after the session closed.
    assert (other.result, other.created_at.tzinfo is not None) == (None, True)


def test_insert_if_absent_after_a_savepoint_rolled_back_gives_the_new_row(ctx, tenant_id):
    values = {"tenant_id": tenant_id, "scope": "test", "key": "k-1", "request_hash": "h"}
    unique = ("tenant_id", "scope", "key")
    with ctx.transaction() as session:
        with pytest.raises(RuntimeError), session.begin_nested():
            undone = insert_if_absent(session, IdempotencyKey, values, unique)
            raise RuntimeError("undone")
        # SQLite gives the rolled-back row's id again; the session must not mix them up
        # while the caller still holds the undone row.
        row = insert_if_absent(session, IdempotencyKey, values, unique)
        assert row is not None and row is not undone
        row.result = {"done": True}
    with ctx.transaction() as session:
        assert session.scalar(select(IdempotencyKey.result).where(
            IdempotencyKey.key == "k-1")) == {"done": True}
