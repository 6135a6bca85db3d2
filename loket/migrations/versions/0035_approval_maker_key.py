"""an approval keeps the API key of the person who asked for it

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-06 09:00:00

The maker-checker compared names, and an unnamed API key's name is its role: two different
unnamed tenant_admin keys could not decide each other's requests. One nullable column on
approvals, the maker's API key id, compared instead when both keys are known. Existing
approvals have none and are still compared by name. Compatible with the previous release's
code, which ignores it.
"""
import sqlalchemy as sa
from alembic import op

revision = '0035'
down_revision = '0034'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('approvals') as batch:
        batch.add_column(sa.Column('maker_key_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('approvals') as batch:
        batch.drop_column('maker_key_id')
