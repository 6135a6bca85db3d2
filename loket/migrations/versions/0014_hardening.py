"""hardening: idempotency-key leases, the installation id, unknown-webhook tallies and the
public endpoints' rate-limit windows

Revision ID: 0014
Revises: 0004
Create Date: 2026-12-02 01:50:00
"""
import sqlalchemy as sa
from alembic import op


revision = '0014'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        'installation',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('installation_id', sa.String(length=40), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_installation')))
    op.create_table(
        'unknown_webhook_tallies',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('sample', sa.JSON(), nullable=False),
        sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_unknown_webhook_tallies')),
        sa.UniqueConstraint('kind', 'day', name=op.f('uq_unknown_webhook_tallies_kind_day')))
    op.create_table(
        'rate_limit_windows',
        sa.Column('bucket', sa.String(length=120), nullable=False),
        sa.Column('window_start', sa.BigInteger(), nullable=False),
        sa.Column('hits', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('bucket', 'window_start', name=op.f('pk_rate_limit_windows')))


def downgrade() -> None:
    op.drop_table('rate_limit_windows')
    op.drop_table('unknown_webhook_tallies')
    op.drop_table('installation')
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.drop_column('claimed_until')
