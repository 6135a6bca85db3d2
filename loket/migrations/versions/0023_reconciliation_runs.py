"""reconciliation files of any size, uploaded and read by the worker (reconciliation_runs)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-02 12:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'reconciliation_runs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=30), nullable=False),
        sa.Column('gateway', sa.String(length=40), nullable=True),
        sa.Column('filename', sa.String(length=200), nullable=False),
        sa.Column('stored_as', sa.String(length=300), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('uploaded_by', sa.String(length=200), nullable=False),
        sa.Column('uploaded_role', sa.String(length=40), nullable=False),
        sa.Column('lines', sa.Integer(), nullable=False),
        sa.Column('matched', sa.Integer(), nullable=False),
        sa.Column('already_settled', sa.Integer(), nullable=False),
        sa.Column('unmatched', sa.Integer(), nullable=False),
        sa.Column('unmatched_sample', sa.JSON(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('error', sa.String(length=2000), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'],
                                name='fk_reconciliation_runs_tenant_id_tenants'),
        sa.PrimaryKeyConstraint('id', name='pk_reconciliation_runs'),
    )
    op.create_index('ix_reconciliation_runs_tenant_id', 'reconciliation_runs', ['tenant_id'])
    op.create_index('ix_reconciliation_runs_state', 'reconciliation_runs', ['state'])


def downgrade() -> None:
    op.drop_index('ix_reconciliation_runs_state', table_name='reconciliation_runs')
    op.drop_index('ix_reconciliation_runs_tenant_id', table_name='reconciliation_runs')
    op.drop_table('reconciliation_runs')
