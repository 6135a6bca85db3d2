"""Staff actions on to-dos: a to-do is resolved once; of two people resolving it at the same
time, the second waits for the first and is told it is resolved (409), nothing is resolved
twice."""

from __future__ import annotations

import threading

from sqlalchemy import func, select
from support.api import api, fields  # noqa: F401 - fixture
from support.engine import ACTOR, ADMIN, seed

from loket.core.backoffice import administration, casework
from loket.core.models import AuditEntry, Todo
from loket.core.todos import raise_todo
from loket.errors import Conflict


def _todo(ctx, tenant_id) -> int:
    with ctx.transaction() as session:
        return raise_todo(session, tenant_id, "payment.manual_refund", "Refund by hand").id


def test_a_resolved_todo_is_not_resolved_again(api):
    todo_id = _todo(api.ctx, api.tenant_id)
    path = f"/v1/todos/{todo_id}/resolve"
    assert api.post(path, {"resolution": "refunded in cash"}).status_code == 200
    again = api.post(path, {"resolution": "refunded again"}, role="tenant_admin")
    assert again.status_code == 409 and fields(again) == {"todo"}, again.text
    resolved = api.get("/v1/todos?status=resolved").json["items"]
    assert [t["resolution"] for t in resolved] == ["refunded in cash"]


def test_two_people_resolving_one_todo_at_once_resolve_it_once(pg_ctx):
    ctx = pg_ctx
    tenant_id = seed(ctx)
    todo_id = _todo(ctx, tenant_id)
    outcome: list = []

    def second():
        try:
            with ctx.transaction() as session:
                administration.resolve_todo(ctx, session, ADMIN,
                                            casework.todo(session, tenant_id, todo_id), "too")
        except Conflict as exc:
            outcome.append(exc)

    with ctx.transaction() as session:
        administration.resolve_todo(ctx, session, ACTOR, casework.todo(session, tenant_id,
                                                                        todo_id), "done")
        session.flush()
        other = threading.Thread(target=second)
        other.start()
        other.join(1.0)
        assert other.is_alive()  # waits for the first to commit
    other.join(10)
    assert len(outcome) == 1 and outcome[0].errors[0]["field"] == "todo"
    with ctx.transaction() as session:
        row = session.get_one(Todo, todo_id)
        resolutions = session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "todo.resolved", AuditEntry.entity_id == str(todo_id)))
    assert (row.resolution, row.resolved_by, resolutions) == ("done", ACTOR.name, 1)
