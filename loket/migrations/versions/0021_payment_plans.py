"""payment plans made in loket (terms, taken-over items, reminders); approvals of plan
changes have no payment

Revision ID: 0021
Revises: 0019
Create Date: 2026-12-02 04:40:00
"""
import sqlalchemy as sa
from alembic import op


revision = '0021'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('payment_plans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('amount', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('down_payment', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('installment_count', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('frequency', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('first_due_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('source_items', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('created_by', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reminders', sa.JSON(), nullable=True))
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.alter_column('payment_id', existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.alter_column('payment_id', existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table('payment_plans', schema=None) as batch_op:
        for column in ('reminders', 'closed_at', 'created_by', 'source_items', 'first_due_on',
                       'frequency', 'installment_count', 'down_payment', 'amount'):
            batch_op.drop_column(column)
