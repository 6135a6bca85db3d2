"""To-dos for staff: one per dedupe key in each tenant, whatever other tenants hold."""

from __future__ import annotations

from sqlalchemy import select
from support.engine import ACTOR

from loket.core.models import Todo
from loket.core.tenants import create_tenant
from loket.core.todos import raise_todo


def test_the_same_key_in_two_tenants_gives_each_its_to_do_once(ctx):
    with ctx.transaction() as session:
        water = create_tenant(session, ACTOR, "water", "Water", {"currency": "USD"}).id
        power = create_tenant(session, ACTOR, "power", "Power", {"currency": "USD"}).id
    key = "dispute-unmatched:ch_0001"  # one gateway reference, seen by both tenants
    with ctx.transaction() as session:
        assert raise_todo(session, water, "dispute.unmatched", "Water's dispute",
                          dedupe_key=key) is not None
    with ctx.transaction() as session:
        assert raise_todo(session, power, "dispute.unmatched", "Power's dispute",
                          dedupe_key=key) is not None
        assert raise_todo(session, power, "dispute.unmatched", "Power's dispute again",
                          dedupe_key=key) is None
    with ctx.transaction() as session:
        todos = session.execute(select(Todo.tenant_id, Todo.title).order_by(Todo.id)).all()
    assert todos == [(water, "Water's dispute"), (power, "Power's dispute")]
