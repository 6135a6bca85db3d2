"""guest payments, payers on behalf, held and deferred payments, receivable attributes,
payment agreements

Revision ID: 0019
Revises: 0004
Create Date: 2026-12-02 01:40:00
"""
import sqlalchemy as sa
from alembic import op


revision = '0019'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('consumers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('postcode', sa.String(length=20), nullable=True))
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payer_name', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('payer_email', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('payer_phone', sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column('external_payment_data', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('agreement_reference', sa.String(length=64),
                                      nullable=True))
        batch_op.add_column(sa.Column('guest_session', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('service_task', sa.String(length=30), nullable=True))
        batch_op.create_index('ix_payments_guest_session', ['guest_session'], unique=False)
        batch_op.create_index('ix_payments_service_task', ['service_task'], unique=False)
    op.create_table(
        'receivable_attributes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('receivable_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('value', sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(['receivable_id'], ['receivables.id'],
                                name='fk_receivable_attributes_receivable_id_receivables'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'],
                                name='fk_receivable_attributes_tenant_id_tenants'),
        sa.PrimaryKeyConstraint('id', name='pk_receivable_attributes'),
        sa.UniqueConstraint('receivable_id', 'name',
                            name='uq_receivable_attributes_receivable_id_name'),
    )
    op.create_index('ix_receivable_attributes_lookup', 'receivable_attributes',
                    ['tenant_id', 'name', 'value'])
    op.create_index('ix_receivable_attributes_receivable_id', 'receivable_attributes',
                    ['receivable_id'])
    op.create_index('ix_receivable_attributes_tenant_id', 'receivable_attributes',
                    ['tenant_id'])
    op.create_table(
        'payment_holds',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('payment_id', sa.Integer(), nullable=False),
        sa.Column('destination', sa.String(length=60), nullable=False),
        sa.Column('hold_key', sa.String(length=200), nullable=False),
        sa.Column('params', sa.JSON(), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['payment_id'], ['payments.id'],
                                name='fk_payment_holds_payment_id_payments'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'],
                                name='fk_payment_holds_tenant_id_tenants'),
        sa.PrimaryKeyConstraint('id', name='pk_payment_holds'),
        sa.UniqueConstraint('payment_id', name='uq_payment_holds_payment_id'),
    )
    op.create_index('ix_payment_holds_key', 'payment_holds', ['tenant_id', 'hold_key', 'state'])
    op.create_index('ix_payment_holds_tenant_id', 'payment_holds', ['tenant_id'])
    op.create_table(
        'payment_agreements',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('consumer_id', sa.Integer(), nullable=False),
        sa.Column('reference', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('reason', sa.String(length=300), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['consumer_id'], ['consumers.id'],
                                name='fk_payment_agreements_consumer_id_consumers'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'],
                                name='fk_payment_agreements_tenant_id_tenants'),
        sa.PrimaryKeyConstraint('id', name='pk_payment_agreements'),
        sa.UniqueConstraint('tenant_id', 'reference',
                            name='uq_payment_agreements_tenant_id_reference'),
    )
    op.create_index('ix_payment_agreements_consumer_id', 'payment_agreements', ['consumer_id'])
    op.create_index('ix_payment_agreements_tenant_id', 'payment_agreements', ['tenant_id'])
    op.create_table(
        'guest_attempts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('source', sa.String(length=100), nullable=False),
        sa.Column('succeeded', sa.Boolean(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'],
                                name='fk_guest_attempts_tenant_id_tenants'),
        sa.PrimaryKeyConstraint('id', name='pk_guest_attempts'),
    )
    op.create_index('ix_guest_attempts_source_at', 'guest_attempts',
                    ['tenant_id', 'source', 'at'])
    op.create_index('ix_guest_attempts_tenant_id', 'guest_attempts', ['tenant_id'])


def downgrade() -> None:
    op.drop_table('guest_attempts')
    op.drop_table('payment_agreements')
    op.drop_table('payment_holds')
    op.drop_table('receivable_attributes')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index('ix_payments_service_task')
        batch_op.drop_index('ix_payments_guest_session')
        for column in ('service_task', 'guest_session', 'agreement_reference',
                       'external_payment_data', 'payer_phone', 'payer_email', 'payer_name'):
            batch_op.drop_column(column)
    with op.batch_alter_table('consumers', schema=None) as batch_op:
        batch_op.drop_column('postcode')
