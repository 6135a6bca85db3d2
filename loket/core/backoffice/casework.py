"""What staff read when something needs a person: the to-do worklist, an entity's audit
trail and the stored gateway events."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core.backoffice.paging import Page, paginate
from loket.core.models import AuditEntry, GatewayEventRow, Todo
from loket.errors import NotFound


def list_todos(session: Session, tenant_id: int, status: str | None, page: int = 1,
               limit: int = 20) -> Page:
    """The exceptions worklist, newest first."""
    query = select(Todo).where(Todo.tenant_id == tenant_id)
    if status:
        query = query.where(Todo.status == status)
    return paginate(session, query, (Todo.created_at.desc(), Todo.id.desc()), page, limit)


def todo(session: Session, tenant_id: int, todo_id: int) -> Todo:
    """A to-do of this tenant, or NotFound."""
    row = session.get(Todo, todo_id)
    if row is None or row.tenant_id != tenant_id:
        raise NotFound(f"no to-do {todo_id}")
    return row


def audit_of(session: Session, tenant_id: int, entity_type: str, entity_id: str,
             page: int = 1, limit: int = 50) -> Page:
    """The audit trail of one entity, oldest first.

    :raises NotFound: the tenant has no such entity on record (another tenant's entity
        answers the same, like every cross-tenant read).
    """
    query = select(AuditEntry).where(AuditEntry.tenant_id == tenant_id,
                                     AuditEntry.entity_type == entity_type,
                                     AuditEntry.entity_id == entity_id)
    result = paginate(session, query, (AuditEntry.id,), page, limit)
    if result.total == 0:
        raise NotFound(f"no {entity_type} {entity_id!r} on record")
    return result


def list_gateway_events(session: Session, tenant_id: int, status: str | None, page: int = 1,
                        limit: int = 20) -> Page:
    """Stored gateway events (webhooks), newest first."""
    query = select(GatewayEventRow).where(GatewayEventRow.tenant_id == tenant_id)
    if status:
        query = query.where(GatewayEventRow.status == status)
    return paginate(session, query, (GatewayEventRow.id.desc(),), page, limit)


def gateway_event(session: Session, tenant_id: int, event_row_id: int) -> GatewayEventRow:
    """A stored gateway event of this tenant, or NotFound."""
    row = session.get(GatewayEventRow, event_row_id)
    if row is None or row.tenant_id != tenant_id:
        raise NotFound(f"no gateway event {event_row_id}")
    return row
