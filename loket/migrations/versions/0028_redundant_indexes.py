"""indexes another index already serves are dropped (a tenant's rows are found through the
unique key or index that leads with tenant_id); only the receivables that belong to a plan
are indexed by plan

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-02 20:10:00
"""
from alembic import op

revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None

SERVED = (
    ('approvals', 'tenant_id'), ('autopay_elections', 'tenant_id'),
    ('bank_statement_lines', 'tenant_id'), ('consumers', 'tenant_id'),
    ('credit_notes', 'tenant_id'), ('disputes', 'tenant_id'),
    ('gateway_configurations', 'tenant_id'), ('guest_attempts', 'tenant_id'),
    ('mandates', 'tenant_id'), ('payment_agreements', 'tenant_id'),
    ('payment_holds', 'tenant_id'), ('payment_links', 'tenant_id'),
    ('payment_plans', 'tenant_id'), ('payments', 'tenant_id'),
    ('receivable_attributes', 'tenant_id'), ('receivables', 'tenant_id'),
    ('todos', 'tenant_id'), ('autopay_attempts', 'charge_id'),
    ('outbox_deliveries', 'event_row_id'), ('receivable_attributes', 'receivable_id'),
    ('refunds', 'payment_id'),
)
"""(table, column) whose single-column index is the leading column of another index."""


def upgrade() -> None:
    for table, column in SERVED:
        op.execute(f'DROP INDEX IF EXISTS ix_{table}_{column}')
    op.execute('DROP INDEX IF EXISTS ix_receivables_plan_id')
    op.execute('CREATE INDEX ix_receivables_plan_id ON receivables (plan_id) '
               'WHERE plan_id IS NOT NULL')


def downgrade() -> None:
    op.execute('DROP INDEX IF EXISTS ix_receivables_plan_id')
    op.execute('CREATE INDEX ix_receivables_plan_id ON receivables (plan_id)')
    for table, column in SERVED:
        op.execute(f'CREATE INDEX IF NOT EXISTS ix_{table}_{column} ON {table} ({column})')
