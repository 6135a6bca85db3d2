"""host events are polled in the order their transactions committed: each event records its
transaction, and each commit that wrote host events gets a position (PostgreSQL)

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-06 03:00:00

The function and trigger texts are the models' (loket.core.models.outbox_feed). Events
written before this revision keep no transaction and are served by id, before the others.
Compatible with the previous release's code: the column and the positions are set by the
database, whoever writes the events. The new index is on a column every existing row leaves
empty (one scan of outbox_events, writes to it wait meanwhile).
"""
import sqlalchemy as sa
from alembic import op

from loket.core.models.outbox_feed import FEED_FUNCTION, FEED_TRIGGER, FEED_XID_DEFAULT

revision = '0031'
down_revision = '0030'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox_events') as batch:
        batch.add_column(sa.Column('feed_xid', sa.BigInteger(), nullable=True))
        batch.create_index('ix_outbox_events_feed_xid', ['feed_xid', 'id'])
    op.create_table(
        'outbox_feed_commits',
        sa.Column('position', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  primary_key=True),
        sa.Column('tenant_id', sa.Integer(), sa.ForeignKey('tenants.id'), nullable=False),
        sa.Column('xid', sa.BigInteger(), nullable=False),
        sa.UniqueConstraint('xid', 'tenant_id'))
    op.create_index('ix_outbox_feed_commits_tenant_position', 'outbox_feed_commits',
                    ['tenant_id', 'position'])
    if op.get_bind().dialect.name == 'postgresql':
        for ddl in (FEED_XID_DEFAULT, FEED_FUNCTION, FEED_TRIGGER):
            op.execute(ddl)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS outbox_feed_commit ON outbox_events")
        op.execute("DROP FUNCTION IF EXISTS loket_outbox_feed_commit()")
    op.drop_index('ix_outbox_feed_commits_tenant_position', 'outbox_feed_commits')
    op.drop_table('outbox_feed_commits')
    with op.batch_alter_table('outbox_events') as batch:
        batch.drop_index('ix_outbox_events_feed_xid')
        batch.drop_column('feed_xid')
