"""The append-only audit trail. Every mutation writes its row in the same transaction."""

from __future__ import annotations

import attrs
from sqlalchemy import event
from sqlalchemy.orm import Session

from loket.core.models import AuditEntry
from loket.errors import Forbidden


@attrs.frozen
class Actor:
    """Who is acting: a staff member, a consumer, the system or a gateway.

    :param name: an identifier (API key name, account number, ``system``).
    :param role: one of the roles, or ``system``/``gateway``.
    :param request_id: the ``X-Request-ID`` of the HTTP request, if any.
    :param key_id: the row id of the staff member's API key, if any: who acts, where two
        keys may bear one name (an unnamed key's name is its role).
    """

    name: str
    role: str
    tenant_id: int | None = None
    account_number: str | None = None
    request_id: str | None = None
    key_id: int | None = None


SYSTEM = Actor("system", "system")


def record(session: Session, actor: Actor, action: str, entity_type: str, entity_id,
           before: dict | None = None, after: dict | None = None,
           tenant_id: int | None = None) -> AuditEntry:
    """Append an audit row to the caller's transaction and return it."""
    entry = AuditEntry(
        tenant_id=tenant_id if tenant_id is not None else actor.tenant_id,
        actor=actor.name, role=actor.role, action=action, entity_type=entity_type,
        entity_id=str(entity_id), before=before, after=after, request_id=actor.request_id,
    )
    session.add(entry)
    return entry


@event.listens_for(Session, "before_flush")
def _audit_is_append_only(session, _flush_context, _instances):
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditEntry):
            raise Forbidden("the audit trail is append-only")
