"""deployment variants and revisions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import maestro_ml.storage.tables.base  # noqa: F401

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('deployment_revisions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('deployment_id', sa.String(length=32), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('strategy', sa.String(length=16), nullable=False),
    sa.Column('variants', sa.JSON(), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('composite', sa.JSON(), nullable=True),
    sa.Column('state', sa.String(length=24), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('created_by', sa.String(length=32), nullable=True),
    sa.Column('created_at', maestro_ml.storage.tables.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.String(length=32), nullable=True),
    sa.Column('decided_at', maestro_ml.storage.tables.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['deployment_id'], ['deployments.id'], name=op.f('fk_deployment_revisions_deployment_id_deployments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_deployment_revisions_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deployment_revisions')),
    sa.UniqueConstraint('deployment_id', 'number', name=op.f('uq_deployment_revisions_deployment_id_number'))
    )
    with op.batch_alter_table('deployment_revisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deployment_revisions_deployment_id'), ['deployment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deployment_revisions_tenant_id'), ['tenant_id'], unique=False)

    with op.batch_alter_table('deployments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('current_revision_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('staged_revision_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('require_approval', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('deployments', schema=None) as batch_op:
        batch_op.drop_column('require_approval')
        batch_op.drop_column('staged_revision_id')
        batch_op.drop_column('current_revision_id')

    with op.batch_alter_table('deployment_revisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deployment_revisions_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_deployment_revisions_deployment_id'))

    op.drop_table('deployment_revisions')
