"""indexes for the back office over millions of payments: the default list order, trigram
indexes for partial, case-insensitive search and a covering index for the collected sums
(PostgreSQL)

Revision ID: 0022
Revises: 0019
Create Date: 2026-12-02 05:00:00
"""
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

# PostgreSQL only: GIN trigram indexes serving lower(column) LIKE '%fragment%' (the models
# declare them for PostgreSQL too, see loket.core.models.TRIGRAM_INDEXES).
TRIGRAM = (
    ('ix_payments_number_trgm', 'payments', 'number'),
    ('ix_payments_transaction_number_trgm', 'payments', 'transaction_number'),
    ('ix_payments_receipt_number_trgm', 'payments', 'receipt_number'),
    ('ix_consumers_name_trgm', 'consumers', 'name'),
    ('ix_consumers_account_number_trgm', 'consumers', 'account_number'),
)

COVERED = ['status', 'is_test', 'channel', 'method', 'payment_type', 'amount_received',
           'change_given', 'refunded']


def upgrade() -> None:
    op.create_index('ix_payments_tenant_created', 'payments', ['tenant_id', 'created_at'])
    if op.get_bind().dialect.name == 'postgresql':
        # What the collected sums read rides along in the index (index-only scans).
        op.drop_index('ix_payments_tenant_paid', table_name='payments')
        op.create_index('ix_payments_tenant_paid', 'payments', ['tenant_id', 'paid_at'],
                        postgresql_include=COVERED)
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        for name, table, column in TRIGRAM:
            op.execute(f'CREATE INDEX IF NOT EXISTS {name} ON {table} '
                       f'USING gin (lower({column}) gin_trgm_ops)')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_payments_tenant_paid', table_name='payments')
        op.create_index('ix_payments_tenant_paid', 'payments', ['tenant_id', 'paid_at'])
        for name, _table, _column in TRIGRAM:
            op.execute(f'DROP INDEX IF EXISTS {name}')
    op.drop_index('ix_payments_tenant_created', table_name='payments')
