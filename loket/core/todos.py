"""To-dos for staff: what loket could not settle by itself (a payment taken but not applied,
a webhook given up, a delivery the host never took) and someone must look at."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core.models import Todo
from loket.core.outbox import events as outbox_events


def raise_todo(session: Session, tenant_id: int, kind: str, title: str, detail: str = "",
               entity_type: str | None = None, entity_id: str | None = None,
               dedupe_key: str | None = None) -> Todo | None:
    """Add a to-do for staff; with ``dedupe_key``, not when the tenant already has a to-do
    with that key (open or resolved: each tenant's keys are unique, another tenant's do not
    count, since a gateway reference may be the same in two tenants).

    :returns: the to-do, or ``None`` when its key was taken."""
    if dedupe_key and session.scalar(select(Todo.id).where(Todo.tenant_id == tenant_id,
                                                           Todo.dedupe_key == dedupe_key)):
        return None
    todo = Todo(tenant_id=tenant_id, kind=kind, title=title, detail=detail,
                entity_type=entity_type, entity_id=entity_id, dedupe_key=dedupe_key)
    session.add(todo)
    session.flush()
    outbox_events.emit(session, tenant_id, "todo.raised",
                       {"todo": {"id": todo.id, "kind": kind, "title": title,
                                 "entity_type": entity_type, "entity_id": entity_id}},
                       f"todo:{todo.id}")
    return todo
