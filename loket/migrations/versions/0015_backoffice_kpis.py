"""receivables gain their issue date; indexes for the KPIs and trends; disputes; approvals

Revision ID: 0015
Revises: 0004
Create Date: 2026-12-02 01:40:00

``issued_on`` of existing receivables is their creation date (UTC).
"""
import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0017'
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
    op.create_table(
        'disputes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('payment_id', sa.Integer(), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('reason', sa.String(length=200), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('history', sa.JSON(), nullable=False),
        sa.Column('gateway_reference', sa.String(length=200), nullable=True),
        sa.Column('amount_taken_back', sa.BigInteger(), nullable=False),
        sa.Column('opened_by', sa.String(length=100), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['payment_id'], ['payments.id'],
                                name=op.f('fk_disputes_payment_id_payments')),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'],
                                name=op.f('fk_disputes_tenant_id_tenants')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_disputes')),
    )
    op.create_index('ix_disputes_payment_id', 'disputes', ['payment_id'])
    op.create_index('ix_disputes_tenant_id', 'disputes', ['tenant_id'])
    op.create_index('ix_disputes_status_created', 'disputes',
                    ['tenant_id', 'status', 'created_at'])

    op.create_table(
        'approvals',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=30), nullable=False),
        sa.Column('payment_id', sa.Integer(), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('request', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('maker', sa.String(length=100), nullable=False),
        sa.Column('maker_role', sa.String(length=40), nullable=False),
        sa.Column('checker', sa.String(length=100), nullable=True),
        sa.Column('decision_note', sa.Text(), nullable=True),
        sa.Column('result', sa.JSON(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['payment_id'], ['payments.id'],
                                name=op.f('fk_approvals_payment_id_payments')),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'],
                                name=op.f('fk_approvals_tenant_id_tenants')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_approvals')),
    )
    op.create_index('ix_approvals_payment_id', 'approvals', ['payment_id'])
    op.create_index('ix_approvals_tenant_id', 'approvals', ['tenant_id'])
    op.create_index('ix_approvals_status_created', 'approvals',
                    ['tenant_id', 'status', 'created_at'])


def downgrade() -> None:
    op.drop_table('approvals')
    op.drop_table('disputes')
    op.drop_index('ix_receivables_tenant_due', table_name='receivables')
    op.drop_index('ix_payments_tenant_paid', table_name='payments')
    with op.batch_alter_table('receivables', schema=None) as batch_op:
        batch_op.drop_column('issued_on')
