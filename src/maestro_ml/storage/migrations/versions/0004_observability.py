"""observability: SLO request buckets and per-deployment SLO overrides

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import maestro_ml.storage.tables.base

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def _counts() -> list[sa.Column]:
    return [
        sa.Column('total', sa.BigInteger(), nullable=False),
        sa.Column('bad', sa.BigInteger(), nullable=False),
        sa.Column('slow', sa.BigInteger(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table('slo_api_buckets',
    sa.Column('minute', sa.BigInteger(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    *_counts(),
    sa.PrimaryKeyConstraint('minute', 'source', name=op.f('pk_slo_api_buckets'))
    )
    op.create_table('slo_deployment_buckets',
    sa.Column('deployment_id', sa.String(length=32), nullable=False),
    sa.Column('minute', sa.BigInteger(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    *_counts(),
    sa.Column('tenant_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_slo_deployment_buckets_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('deployment_id', 'minute', 'source', name=op.f('pk_slo_deployment_buckets'))
    )
    with op.batch_alter_table('slo_deployment_buckets', schema=None) as batch_op:
        batch_op.create_index('ix_slo_deployment_buckets_minute', ['minute'], unique=False)
        batch_op.create_index(batch_op.f('ix_slo_deployment_buckets_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('deployment_slos',
    sa.Column('deployment_id', sa.String(length=32), nullable=False),
    sa.Column('availability_objective', sa.Float(), nullable=True),
    sa.Column('latency_objective', sa.Float(), nullable=True),
    sa.Column('latency_threshold_seconds', sa.Float(), nullable=True),
    sa.Column('updated_at', maestro_ml.storage.tables.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['deployment_id'], ['deployments.id'], name=op.f('fk_deployment_slos_deployment_id_deployments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_deployment_slos_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('deployment_id', name=op.f('pk_deployment_slos'))
    )
    with op.batch_alter_table('deployment_slos', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deployment_slos_tenant_id'), ['tenant_id'], unique=False)


def downgrade() -> None:
    op.drop_table('deployment_slos')
    op.drop_table('slo_deployment_buckets')
    op.drop_table('slo_api_buckets')
