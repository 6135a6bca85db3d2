"""one trigram index over a payment's three numbers instead of one per number (PostgreSQL):
a number fragment is looked up once, not three times

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-02 15:10:00
"""
from alembic import op

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None

NUMBERS = ("number || chr(31) || coalesce(transaction_number, '') || chr(31) || "
           "coalesce(receipt_number, '')")
ONE_EACH = (
    ('ix_payments_number_trgm', 'number'),
    ('ix_payments_transaction_number_trgm', 'transaction_number'),
    ('ix_payments_receipt_number_trgm', 'receipt_number'),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute('CREATE INDEX IF NOT EXISTS ix_payments_numbers_trgm ON payments '
               f'USING gin (lower({NUMBERS}) gin_trgm_ops)')
    for name, _column in ONE_EACH:
        op.execute(f'DROP INDEX IF EXISTS {name}')


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for name, column in ONE_EACH:
        op.execute(f'CREATE INDEX IF NOT EXISTS {name} ON payments '
                   f'USING gin (lower({column}) gin_trgm_ops)')
    op.execute('DROP INDEX IF EXISTS ix_payments_numbers_trgm')
