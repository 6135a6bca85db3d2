"""a host webhook endpoint's secret can be rotated: the secret it replaced keeps signing
for a while

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-06 08:00:00

Two nullable columns on host_webhook_endpoints: the previous secret (encrypted like the
current one, re-encrypted by `loket keys rotate`) and when it stops signing. Existing
endpoints have none. Compatible with the previous release's code, which ignores both.
"""
import sqlalchemy as sa
from alembic import op

revision = '0033'
down_revision = '0032'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('host_webhook_endpoints') as batch:
        batch.add_column(sa.Column('previous_secret_encrypted', sa.Text(), nullable=True))
        batch.add_column(sa.Column('previous_secret_expires_at', sa.DateTime(timezone=True),
                                   nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('host_webhook_endpoints') as batch:
        batch.drop_column('previous_secret_expires_at')
        batch.drop_column('previous_secret_encrypted')
