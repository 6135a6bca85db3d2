"""record each tenant's currency decimals (the guard against a changed ISO 4217 table)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 01:20:00

Amounts stored before this revision were written with babel's digits, which agreed with
ISO 4217 for every currency loket's gateways charge in until babel 2.19 (IDR 0); they are
recorded with the ISO 4217 digits.
"""
import json

import sqlalchemy as sa
from alembic import op

from loket.money import ISO4217_DIGITS

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tenant_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('currency_digits', sa.Integer(), nullable=True))
    connection = op.get_bind()
    for tenant_id, document in connection.execute(
            sa.text("SELECT tenant_id, document FROM tenant_settings")).all():
        if isinstance(document, str):
            document = json.loads(document)
        digits = ISO4217_DIGITS.get(str(document.get("currency", "")).upper())
        connection.execute(sa.text("UPDATE tenant_settings SET currency_digits = :d "
                                   "WHERE tenant_id = :t"), {"d": digits, "t": tenant_id})


def downgrade() -> None:
    with op.batch_alter_table('tenant_settings', schema=None) as batch_op:
        batch_op.drop_column('currency_digits')
