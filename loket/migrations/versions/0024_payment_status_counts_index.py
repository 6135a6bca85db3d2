"""an index for the dashboard's payment counts by status (tenant, is_test, status)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-02 13:00:00
"""
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_payments_tenant_test_status', 'payments',
                    ['tenant_id', 'is_test', 'status'])


def downgrade() -> None:
    op.drop_index('ix_payments_tenant_test_status', table_name='payments')
