"""audit and to-do entity ids take any account number (64 characters) and more

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-06 06:20:00

An account number may have 64 characters, but the audit log and the to-do list kept an
entity id of at most 60: on PostgreSQL, upserting such an account failed (500) writing its
audit row. Both columns become 100 characters. PostgreSQL widens a varchar without
rewriting the table; SQLite rebuilds them (it never enforced the length).
"""
import sqlalchemy as sa
from alembic import op

revision = '0032'
down_revision = '0031'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table, nullable in (('audit_log', False), ('todos', True)):
        with op.batch_alter_table(table) as batch:
            batch.alter_column('entity_id', existing_type=sa.String(60), type_=sa.String(100),
                               existing_nullable=nullable)


def downgrade() -> None:
    for table, nullable in (('audit_log', False), ('todos', True)):
        with op.batch_alter_table(table) as batch:
            batch.alter_column('entity_id', existing_type=sa.String(100), type_=sa.String(60),
                               existing_nullable=nullable)
