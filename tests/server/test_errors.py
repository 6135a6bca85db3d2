"""A request that loses to a concurrent change (a deadlock on PostgreSQL, SQLite's write
lock) is answered 503 with ``Retry-After``, not 500: the losing transaction was rolled
back and the same request may be sent again. Real databases, real lock conflicts."""

from __future__ import annotations

import threading
import time
import uuid

import falcon
import falcon.testing
import pytest
from sqlalchemy import create_engine, text

from loket.server.errors import register_error_handlers


def _app(work) -> falcon.testing.TestClient:
    class Work:
        def on_post(self, req, resp):
            work()
            resp.media = {"done": True}

    app = falcon.App()
    register_error_handlers(app)
    app.add_route("/work", Work())
    return falcon.testing.TestClient(app)


def _refused_for_contention(answer) -> None:
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
    assert answer.json["title"] == "Concurrent change"
    assert "rolled back" in answer.json["detail"]


@pytest.fixture
def pg_table(pg_url):
    engine = create_engine(pg_url)
    table = f"contention_{uuid.uuid4().hex[:8]}"
    with engine.begin() as connection:
        connection.execute(text(f"CREATE TABLE {table} (id int PRIMARY KEY, n int)"))
        connection.execute(text(f"INSERT INTO {table} VALUES (1, 0), (2, 0)"))
    yield engine, table
    with engine.begin() as connection:
        connection.execute(text(f"DROP TABLE {table}"))
    engine.dispose()


def test_the_loser_of_a_deadlock_is_told_to_retry_and_wrote_nothing(pg_table):
    engine, table = pg_table
    both_hold_one = threading.Barrier(2, timeout=10)
    other_done = threading.Event()
    other_pid: list[int] = []

    def other() -> None:  # locks row 2, then wants row 1
        with engine.begin() as connection:
            connection.execute(text("SET LOCAL deadlock_timeout = '10s'"))
            other_pid.append(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())
            connection.execute(text(f"UPDATE {table} SET n = n + 1 WHERE id = 2"))
            both_hold_one.wait()
            connection.execute(text(f"UPDATE {table} SET n = n + 1 WHERE id = 1"))
        other_done.set()

    def work() -> None:  # locks row 1, then wants row 2: the one PostgreSQL gives up
        with engine.begin() as connection:
            connection.execute(text("SET LOCAL deadlock_timeout = '50ms'"))
            connection.execute(text(f"UPDATE {table} SET n = n + 10 WHERE id = 1"))
            both_hold_one.wait()
            _waiting_for_a_lock(engine, other_pid[0])  # so this one closes the cycle
            connection.execute(text(f"UPDATE {table} SET n = n + 10 WHERE id = 2"))

    thread = threading.Thread(target=other)
    thread.start()
    answer = _app(work).simulate_post("/work")
    thread.join(15)
    _refused_for_contention(answer)
    assert other_done.is_set()
    with engine.connect() as connection:
        rows = dict(connection.execute(text(f"SELECT id, n FROM {table}")).all())
    assert rows == {1: 1, 2: 1}  # the other transaction's changes only


def _waiting_for_a_lock(engine, pid: int) -> None:
    deadline = time.monotonic() + 10
    with engine.connect() as probe:
        while time.monotonic() < deadline:
            if probe.execute(text("SELECT wait_event_type = 'Lock' FROM pg_stat_activity "
                                  "WHERE pid = :pid"), {"pid": pid}).scalar():
                return
            probe.rollback()  # a new snapshot of pg_stat_activity each time
            time.sleep(0.01)
    raise AssertionError("the other transaction never waited for its lock")


def test_a_row_locked_elsewhere_with_nowait_is_told_to_retry(pg_table):
    engine, table = pg_table

    def work() -> None:
        with engine.begin() as connection:
            connection.execute(text(f"SELECT * FROM {table} WHERE id = 1 FOR UPDATE NOWAIT"))

    with engine.begin() as holder:
        holder.execute(text(f"SELECT * FROM {table} WHERE id = 1 FOR UPDATE"))
        _refused_for_contention(_app(work).simulate_post("/work"))
    assert _app(work).simulate_post("/work").status_code == 200  # free again


def test_sqlite_locked_by_another_writer_is_told_to_retry(tmp_path):
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    engine = create_engine(url, connect_args={"timeout": 0.05})
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (n int)"))

    def work() -> None:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (1)"))

    holder = create_engine(url).raw_connection()
    try:
        holder.execute("BEGIN EXCLUSIVE")
        _refused_for_contention(_app(work).simulate_post("/work"))
        holder.rollback()
    finally:
        holder.close()
    assert _app(work).simulate_post("/work").status_code == 200
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar_one() == 1
    engine.dispose()


def test_any_other_database_error_is_an_internal_error_without_details(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'other.db'}")

    def work() -> None:
        with engine.begin() as connection:
            connection.execute(text("SELECT * FROM no_such_table"))

    answer = _app(work).simulate_post("/work")
    assert answer.status_code == 500
    assert "no_such_table" not in answer.text
    engine.dispose()
