"""Staff actions on to-dos: a to-do is resolved once; of two people resolving it at the same
time, the second waits for the first and is told it is resolved (409), nothing is resolved
twice."""

from __future__ import annotations

import threading

from sqlalchemy import func, select
from support.api import api, fields  # noqa: F401 - fixture
from support.engine import (
    ACTOR,
    ADMIN,
    connect_sandbox,
    deliver,
    outstanding,
    payer,
    reload,
    seed,
    start,
)

from loket import hookimpl
from loket.core.backoffice import administration, casework
from loket.core.models import AuditEntry, Payment, Todo
from loket.core.payments.refunds import refund_payment
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


class _ApplyFails:
    """The billing system is offline: applying money to a bill fails."""

    LOKET_CONTRACT = "1"

    @hookimpl(tryfirst=True)
    def loket_destination_apply(self, processor, ledger, resolved, amount):
        """Fail every application."""
        raise RuntimeError("billing system offline")


def _failed_application(ctx, tenant_id: int) -> Payment:
    """WU-10001 pays INV-2025-001234 (145.50) online; applying it fails."""
    connect_sandbox(ctx, tenant_id)
    payment = start(ctx, tenant_id, [("bill", "INV-2025-001234")])
    ctx.plugins.pm.register(_ApplyFails(), name="apply-fails")
    try:
        deliver(ctx, payer(ctx, payment, "pay"))
    finally:
        ctx.plugins.pm.unregister(name="apply-fails")
    assert reload(ctx, payment).application_state == "error"
    return payment


def _refund_then_retry(ctx, payment: Payment, amount: str) -> Payment:
    with ctx.transaction() as session:
        refund_payment(ctx, session, ADMIN, session.get_one(Payment, payment.id), amount,
                       "customer_request")
    with ctx.transaction() as session:
        administration.retry_application(ctx, session, ACTOR, session.get_one(Payment,
                                                                              payment.id))
    return reload(ctx, payment)


def test_a_retry_after_a_partial_refund_applies_only_what_was_kept(ctx):
    tenant_id = seed(ctx)
    payment = _failed_application(ctx, tenant_id)
    after = _refund_then_retry(ctx, payment, "45.50")
    assert after.application_state == "applied"
    assert outstanding(ctx, tenant_id, "INV-2025-001234") == 4550  # 100.00 of it applied


def test_a_retry_after_a_full_refund_applies_nothing(ctx):
    tenant_id = seed(ctx)
    payment = _failed_application(ctx, tenant_id)
    after = _refund_then_retry(ctx, payment, "145.50")
    assert after.application_state == "applied"
    assert outstanding(ctx, tenant_id, "INV-2025-001234") == 14550
