"""full-text search tables for partial search on SQLite (FTS5, trigram tokenizer): a
payment's numbers and a consumer's name and account number

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-02 15:40:00

The statements are the ones the models run when they create the tables
(loket.core.models.indexes); existing rows are indexed here.
"""
from alembic import op

from loket.core.models.indexes import SQLITE_SEARCH, sqlite_search_ddl

revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    for fts, table, expression, columns in SQLITE_SEARCH:
        for statement in sqlite_search_ddl(fts, table, expression, columns):
            op.execute(statement)
        op.execute(f"INSERT INTO {fts} (rowid, text) SELECT id, "
                   f"lower({expression.format(row=table)}) FROM {table}")


def downgrade() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    for fts, _table, _expression, _columns in SQLITE_SEARCH:
        for trigger in ('insert', 'update', 'delete'):
            op.execute(f'DROP TRIGGER IF EXISTS {fts}_{trigger}')
        op.execute(f'DROP TABLE IF EXISTS {fts}')
