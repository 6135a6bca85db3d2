"""running tallies of payments for the dashboard (counts by status, money collected per
local day), kept by statement triggers on PostgreSQL

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-02 15:00:00

The trigger function's text is the one the models create with the tables
(loket.core.models.tallies); the tenants' existing payments are queued as pending changes,
which the worker's next fold (or the first dashboard read) counts.
"""
import sqlalchemy as sa
from alembic import op

from loket.core.models.tallies import (
    QUEUE_PAYMENTS,
    QUEUE_VACUUM,
    TALLY_FUNCTION,
    TALLY_TRIGGERS,
)

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None

def _fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'],
                                   name=f'fk_{table}_tenant_id_tenants')


def upgrade() -> None:
    op.create_table(
        'payment_tally_changes',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('is_test', sa.Boolean(), nullable=False),
        sa.Column('status', sa.String(length=30), nullable=False),
        sa.Column('paid_on', sa.Date(), nullable=True),
        sa.Column('channel', sa.String(length=30), nullable=False),
        sa.Column('method', sa.String(length=30), nullable=False),
        sa.Column('payment_type', sa.String(length=30), nullable=False),
        sa.Column('payments', sa.BigInteger(), nullable=False),
        sa.Column('net', sa.BigInteger(), nullable=False),
        _fk('payment_tally_changes'),
        sa.PrimaryKeyConstraint('id', name='pk_payment_tally_changes'),
    )
    op.create_index('ix_payment_tally_changes_tenant_id', 'payment_tally_changes',
                    ['tenant_id'])
    op.create_table(
        'payment_status_tallies',
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('is_test', sa.Boolean(), nullable=False),
        sa.Column('status', sa.String(length=30), nullable=False),
        sa.Column('payments', sa.BigInteger(), nullable=False),
        _fk('payment_status_tallies'),
        sa.PrimaryKeyConstraint('tenant_id', 'is_test', 'status',
                                name='pk_payment_status_tallies'),
    )
    op.create_table(
        'payment_day_tallies',
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('paid_on', sa.Date(), nullable=False),
        sa.Column('channel', sa.String(length=30), nullable=False),
        sa.Column('method', sa.String(length=30), nullable=False),
        sa.Column('payment_type', sa.String(length=30), nullable=False),
        sa.Column('payments', sa.BigInteger(), nullable=False),
        sa.Column('net', sa.BigInteger(), nullable=False),
        _fk('payment_day_tallies'),
        sa.PrimaryKeyConstraint('tenant_id', 'paid_on', 'channel', 'method', 'payment_type',
                                name='pk_payment_day_tallies'),
    )
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(QUEUE_VACUUM)
    op.execute(TALLY_FUNCTION)
    for trigger in TALLY_TRIGGERS:
        op.execute(trigger)
    op.execute(QUEUE_PAYMENTS.format(where=""))


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for name in ('insert', 'update', 'delete'):
            op.execute(f'DROP TRIGGER IF EXISTS payments_tally_{name} ON payments')
        op.execute('DROP FUNCTION IF EXISTS loket_tally_payments()')
    op.drop_table('payment_day_tallies')
    op.drop_table('payment_status_tallies')
    op.drop_index('ix_payment_tally_changes_tenant_id', table_name='payment_tally_changes')
    op.drop_table('payment_tally_changes')
