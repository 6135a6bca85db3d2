"""receivables gain their issue date; indexes for the KPIs and trends

Revision ID: 0015
Revises: 0004
Create Date: 2026-12-02 01:40:00

``issued_on`` of existing receivables is their creation date (UTC).
"""
import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('receivables', schema=None) as batch_op:
        batch_op.add_column(sa.Column('issued_on', sa.Date(), nullable=True))
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text(
            "UPDATE receivables SET issued_on = (created_at AT TIME ZONE 'UTC')::date"))
    else:
        connection.execute(sa.text("UPDATE receivables SET issued_on = date(created_at)"))
    op.create_index('ix_payments_tenant_paid', 'payments', ['tenant_id', 'paid_at'])
    op.create_index('ix_receivables_tenant_due', 'receivables', ['tenant_id', 'due_date'])


def downgrade() -> None:
    op.drop_index('ix_receivables_tenant_due', table_name='receivables')
    op.drop_index('ix_payments_tenant_paid', table_name='payments')
    with op.batch_alter_table('receivables', schema=None) as batch_op:
        batch_op.drop_column('issued_on')
