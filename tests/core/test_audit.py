"""The audit trail is append-only and written in the same transaction as the mutation."""

import pytest
from sqlalchemy import func, select
from support.engine import ACTOR

from loket.core.host import receivables
from loket.core.models import AuditEntry, Consumer
from loket.errors import Forbidden, ValidationFailed


def _count(ctx, model):
    with ctx.transaction() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_a_mutation_writes_who_what_before_and_after(ctx, tenant_id):
    with ctx.transaction() as session:
        receivables.upsert_consumer(session, ACTOR, tenant_id,
                                    {"account_number": "WU-10001", "name": "John Q. Doe"})
    with ctx.transaction() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.entity_id == "WU-10001")
                                .order_by(AuditEntry.id.desc())).first()
    assert (entry.actor, entry.role, entry.action) == ("tester", "cso_admin",
                                                       "consumer.upserted")
    assert entry.before == {"name": "John Doe", "email": "john.doe@example.com"}
    assert entry.after["name"] == "John Q. Doe"


def test_a_failed_mutation_leaves_neither_data_nor_audit_row(ctx, tenant_id):
    consumers, audits = _count(ctx, Consumer), _count(ctx, AuditEntry)
    with pytest.raises(ValidationFailed):
        with ctx.transaction() as session:
            receivables.upsert_consumer(session, ACTOR, tenant_id,
                                        {"account_number": "NEW-1", "name": "New Person"})
            receivables.upsert_receivable(session, ACTOR, tenant_id, {
                "account_number": "NEW-1", "kind": "bill", "reference": "X", "amount": "1.001"})
    assert (_count(ctx, Consumer), _count(ctx, AuditEntry)) == (consumers, audits)


def test_audit_rows_cannot_be_changed_or_deleted(ctx, tenant_id):
    with pytest.raises(Forbidden):
        with ctx.transaction() as session:
            session.scalars(select(AuditEntry)).first().action = "rewritten"
    with pytest.raises(Forbidden):
        with ctx.transaction() as session:
            session.delete(session.scalars(select(AuditEntry)).first())
