"""prediction log

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import maestro_ml.storage.tables.base

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'prediction_log',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('deployment_id', sa.String(length=32), nullable=False),
        sa.Column('revision', sa.Integer(), nullable=True),
        sa.Column('variant', sa.String(length=63), nullable=False),
        sa.Column('model_version_id', sa.String(length=32), nullable=True),
        sa.Column('inputs', sa.JSON(), nullable=True),
        sa.Column('outputs', sa.JSON(), nullable=False),
        sa.Column('row_count', sa.Integer(), nullable=False),
        sa.Column('latency_ms', sa.Float(), nullable=False),
        sa.Column(
            'created_at', maestro_ml.storage.tables.base.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column('tenant_id', sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ['tenant_id'], ['tenants.id'], name=op.f('fk_prediction_log_tenant_id_tenants'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_prediction_log')),
    )
    with op.batch_alter_table('prediction_log', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_prediction_log_tenant_id'), ['tenant_id'], unique=False
        )
        batch_op.create_index(
            'ix_prediction_log_tenant_deployment_created',
            ['tenant_id', 'deployment_id', 'created_at'], unique=False,
        )
        batch_op.create_index('ix_prediction_log_created', ['created_at'], unique=False)

    op.create_table(
        'prediction_feedback',
        sa.Column('prediction_id', sa.String(length=32), nullable=False),
        sa.Column('deployment_id', sa.String(length=32), nullable=False),
        sa.Column('variant', sa.String(length=63), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('truths', sa.JSON(), nullable=False),
        sa.Column('created_by', sa.String(length=32), nullable=True),
        sa.Column(
            'created_at', maestro_ml.storage.tables.base.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column('tenant_id', sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ['prediction_id'], ['prediction_log.id'],
            name=op.f('fk_prediction_feedback_prediction_id_prediction_log'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['tenant_id'], ['tenants.id'], name=op.f('fk_prediction_feedback_tenant_id_tenants'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('prediction_id', name=op.f('pk_prediction_feedback')),
    )
    with op.batch_alter_table('prediction_feedback', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_prediction_feedback_tenant_id'), ['tenant_id'], unique=False
        )
        batch_op.create_index(
            'ix_prediction_feedback_tenant_deployment', ['tenant_id', 'deployment_id'],
            unique=False,
        )


def downgrade() -> None:
    op.drop_table('prediction_feedback')
    op.drop_table('prediction_log')
