"""mandates, auto-pay elections, charges and attempts; gateway profiles

Revision ID: 0017
Revises: 0004
Create Date: 2026-12-02 02:00:00

Gateway configurations get a ``profile`` (several named configurations of one kind per
tenant); their uniqueness moves from (tenant, kind) to (tenant, kind, profile). Existing
configurations become the ``default`` profile.
"""
import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0004'
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table('gateway_configurations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('profile', sa.String(length=40), nullable=False,
                                      server_default='default'))
        batch_op.drop_constraint('uq_gateway_configurations_tenant_id_kind', type_='unique')
        batch_op.create_unique_constraint('uq_gateway_configurations_tenant_id_kind_profile',
                                          ['tenant_id', 'kind', 'profile'])
    op.create_table(
        'mandates',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('consumer_id', sa.Integer(), nullable=False),
        sa.Column('gateway_configuration_id', sa.Integer(), nullable=False),
        sa.Column('reference', sa.String(length=40), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('gateway_reference', sa.String(length=200), nullable=True),
        sa.Column('token', sa.String(length=200), nullable=True),
        sa.Column('gateway_customer', sa.String(length=200), nullable=True),
        sa.Column('brand', sa.String(length=40), nullable=False),
        sa.Column('last4', sa.String(length=4), nullable=False),
        sa.Column('exp_month', sa.Integer(), nullable=True),
        sa.Column('exp_year', sa.Integer(), nullable=True),
        sa.Column('redirect_url', sa.Text(), nullable=True),
        sa.Column('created_by', sa.String(length=100), nullable=True),
        sa.Column('created_at', TS, nullable=False),
        sa.Column('activated_at', TS, nullable=True),
        sa.Column('ended_at', TS, nullable=True),
        sa.Column('end_reason', sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(['consumer_id'], ['consumers.id'],
                                name=op.f('fk_mandates_consumer_id_consumers')),
        sa.ForeignKeyConstraint(['gateway_configuration_id'], ['gateway_configurations.id'],
                                name=op.f('fk_mandates_gateway_configuration_id_gateway_configurations')),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'],
                                name=op.f('fk_mandates_tenant_id_tenants')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_mandates')),
        sa.UniqueConstraint('tenant_id', 'reference', name=op.f('uq_mandates_tenant_id_reference')),
    )
    op.create_index(op.f('ix_mandates_tenant_id'), 'mandates', ['tenant_id'])
    op.create_index(op.f('ix_mandates_consumer_id'), 'mandates', ['consumer_id'])
    op.create_index('ix_mandates_gateway_reference', 'mandates',
                    ['gateway_configuration_id', 'gateway_reference'])
    op.create_table(
        'mandate_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('gateway_configuration_id', sa.Integer(), nullable=False),
        sa.Column('mandate_id', sa.Integer(), nullable=True),
        sa.Column('event_id', sa.String(length=200), nullable=False),
        sa.Column('event_type', sa.String(length=40), nullable=False),
        sa.Column('received_at', TS, nullable=False),
        sa.ForeignKeyConstraint(['gateway_configuration_id'], ['gateway_configurations.id'],
                                name=op.f('fk_mandate_events_gateway_configuration_id_gateway_configurations')),
        sa.ForeignKeyConstraint(['mandate_id'], ['mandates.id'],
                                name=op.f('fk_mandate_events_mandate_id_mandates')),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'],
                                name=op.f('fk_mandate_events_tenant_id_tenants')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_mandate_events')),
        sa.UniqueConstraint('gateway_configuration_id', 'event_id',
                            name=op.f('uq_mandate_events_gateway_configuration_id_event_id')),
    )
    op.create_index(op.f('ix_mandate_events_tenant_id'), 'mandate_events', ['tenant_id'])
    op.create_index(op.f('ix_mandate_events_mandate_id'), 'mandate_events', ['mandate_id'])
    op.create_table(
        'autopay_elections',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('consumer_id', sa.Integer(), nullable=False),
        sa.Column('mandate_id', sa.Integer(), nullable=False),
        sa.Column('item_kinds', sa.JSON(), nullable=False),
        sa.Column('max_amount', sa.BigInteger(), nullable=True),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('stop_reason', sa.String(length=200), nullable=True),
        sa.Column('updated_by', sa.String(length=100), nullable=True),
        sa.Column('created_at', TS, nullable=False),
        sa.Column('updated_at', TS, nullable=False),
        sa.ForeignKeyConstraint(['consumer_id'], ['consumers.id'],
                                name=op.f('fk_autopay_elections_consumer_id_consumers')),
        sa.ForeignKeyConstraint(['mandate_id'], ['mandates.id'],
                                name=op.f('fk_autopay_elections_mandate_id_mandates')),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'],
                                name=op.f('fk_autopay_elections_tenant_id_tenants')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_autopay_elections')),
        sa.UniqueConstraint('tenant_id', 'consumer_id',
                            name=op.f('uq_autopay_elections_tenant_id_consumer_id')),
    )
    op.create_index(op.f('ix_autopay_elections_tenant_id'), 'autopay_elections', ['tenant_id'])
    op.create_index(op.f('ix_autopay_elections_mandate_id'), 'autopay_elections',
                    ['mandate_id'])
    op.create_table(
        'autopay_charges',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('consumer_id', sa.Integer(), nullable=False),
        sa.Column('receivable_id', sa.Integer(), nullable=False),
        sa.Column('mandate_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', TS, nullable=True),
        sa.Column('last_decline_code', sa.String(length=100), nullable=True),
        sa.Column('last_decline_kind', sa.String(length=10), nullable=True),
        sa.Column('last_message', sa.Text(), nullable=True),
        sa.Column('created_at', TS, nullable=False),
        sa.Column('finished_at', TS, nullable=True),
        sa.ForeignKeyConstraint(['consumer_id'], ['consumers.id'],
                                name=op.f('fk_autopay_charges_consumer_id_consumers')),
        sa.ForeignKeyConstraint(['mandate_id'], ['mandates.id'],
                                name=op.f('fk_autopay_charges_mandate_id_mandates')),
        sa.ForeignKeyConstraint(['receivable_id'], ['receivables.id'],
                                name=op.f('fk_autopay_charges_receivable_id_receivables')),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'],
                                name=op.f('fk_autopay_charges_tenant_id_tenants')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_autopay_charges')),
        sa.UniqueConstraint('receivable_id', name=op.f('uq_autopay_charges_receivable_id')),
    )
    op.create_index(op.f('ix_autopay_charges_tenant_id'), 'autopay_charges', ['tenant_id'])
    op.create_index(op.f('ix_autopay_charges_consumer_id'), 'autopay_charges', ['consumer_id'])
    op.create_index('ix_autopay_charges_status_next', 'autopay_charges',
                    ['status', 'next_attempt_at'])
    op.create_table(
        'autopay_attempts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('charge_id', sa.Integer(), nullable=False),
        sa.Column('attempt', sa.Integer(), nullable=False),
        sa.Column('payment_id', sa.Integer(), nullable=False),
        sa.Column('outcome', sa.String(length=20), nullable=False),
        sa.Column('decline_code', sa.String(length=100), nullable=True),
        sa.Column('decline_kind', sa.String(length=10), nullable=True),
        sa.Column('message', sa.Text(), nullable=True),
        sa.Column('next_attempt_at', TS, nullable=True),
        sa.Column('at', TS, nullable=False),
        sa.ForeignKeyConstraint(['charge_id'], ['autopay_charges.id'],
                                name=op.f('fk_autopay_attempts_charge_id_autopay_charges')),
        sa.ForeignKeyConstraint(['payment_id'], ['payments.id'],
                                name=op.f('fk_autopay_attempts_payment_id_payments')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_autopay_attempts')),
        sa.UniqueConstraint('charge_id', 'attempt',
                            name=op.f('uq_autopay_attempts_charge_id_attempt')),
    )
    op.create_index(op.f('ix_autopay_attempts_charge_id'), 'autopay_attempts', ['charge_id'])
    op.create_index(op.f('ix_autopay_attempts_payment_id'), 'autopay_attempts', ['payment_id'])


def downgrade() -> None:
    for table in ('autopay_attempts', 'autopay_charges', 'autopay_elections',
                  'mandate_events', 'mandates'):
        op.drop_table(table)
    with op.batch_alter_table('gateway_configurations', schema=None) as batch_op:
        batch_op.drop_constraint('uq_gateway_configurations_tenant_id_kind_profile',
                                 type_='unique')
        batch_op.create_unique_constraint('uq_gateway_configurations_tenant_id_kind',
                                          ['tenant_id', 'kind'])
        batch_op.drop_column('profile')
