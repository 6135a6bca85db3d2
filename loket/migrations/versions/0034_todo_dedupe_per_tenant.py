"""a to-do's dedupe key is unique per tenant, not across all tenants

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-06 08:30:00

To-dos raised once per key (``dispute-unmatched:<gateway reference>``...) were unique over
the whole table: the same gateway reference in two tenants gave the second tenant no to-do.
The unique constraint on ``dedupe_key`` becomes one on ``(tenant_id, dedupe_key)``. Existing
rows satisfy it (they were unique without the tenant). The previous release's code only
looks keys up, which the wider key does not break. A downgrade fails while two tenants
hold the same key.
"""
from alembic import op

revision = '0034'
down_revision = '0033'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('todos') as batch:
        batch.drop_constraint('uq_todos_dedupe_key', type_='unique')
        batch.create_unique_constraint('uq_todos_tenant_id_dedupe_key',
                                       ['tenant_id', 'dedupe_key'])


def downgrade() -> None:
    with op.batch_alter_table('todos') as batch:
        batch.drop_constraint('uq_todos_tenant_id_dedupe_key', type_='unique')
        batch.create_unique_constraint('uq_todos_dedupe_key', ['dedupe_key'])
