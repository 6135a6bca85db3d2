"""a settlement report run commits a block of lines at a time: how many lines have committed
(an attempt that starts again skips them)

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-03 15:50:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('reconciliation_runs') as batch:
        batch.add_column(sa.Column('committed_lines', sa.Integer(), nullable=False,
                                   server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('reconciliation_runs') as batch:
        batch.drop_column('committed_lines')
