"""logged models' metrics; a metric value logged again exactly is stored once

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 20:00:00

MLflow 3 links metric values to logged models (``log_metric(..., model_id=...)``), and its
client logs a run's metrics again, with the new model's id, each time it logs a model in
that run. ``logged_model_metrics`` holds the links. The run's history keeps one copy of a
value logged again exactly — same key, step, timestamp and value — as MLflow's does: the
copies already stored are removed, and a unique index in place of
``ix_metrics_run_key_step`` (whose columns it starts with) keeps new ones out.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

UNIQUE_METRIC = 'ux_metrics_run_key_step_value'
METRIC_IDENTITY = ['run_id', 'key', 'step', 'timestamp', 'value', 'is_nan']


def upgrade() -> None:
    op.execute(
        "DELETE FROM metrics WHERE id NOT IN (SELECT min(id) FROM metrics "
        "GROUP BY run_id, key, step, timestamp, value, is_nan)"
    )
    op.drop_index('ix_metrics_run_key_step', table_name='metrics')
    op.create_index(UNIQUE_METRIC, 'metrics', METRIC_IDENTITY, unique=True)
    op.create_table(
        'logged_model_metrics',
        sa.Column(
            'id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True,
            nullable=False,
        ),
        sa.Column('model_id', sa.String(length=64), nullable=False),
        sa.Column('run_id', sa.String(length=32), nullable=False),
        sa.Column('key', sa.String(length=250), nullable=False),
        sa.Column('value', sa.Float(), nullable=False),
        sa.Column('is_nan', sa.Boolean(), nullable=False),
        sa.Column('step', sa.BigInteger(), nullable=False),
        sa.Column('timestamp', sa.BigInteger(), nullable=False),
        sa.Column('dataset_name', sa.String(length=500), nullable=True),
        sa.Column('dataset_digest', sa.String(length=64), nullable=True),
        sa.Column('tenant_id', sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ['model_id'], ['logged_models.id'],
            name=op.f('fk_logged_model_metrics_model_id_logged_models'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['run_id'], ['runs.id'], name=op.f('fk_logged_model_metrics_run_id_runs'),
            ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['tenant_id'], ['tenants.id'], name=op.f('fk_logged_model_metrics_tenant_id_tenants'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_logged_model_metrics')),
        sa.UniqueConstraint(
            'model_id', 'key', 'step', 'timestamp', 'run_id',
            name=op.f('uq_logged_model_metrics_model_id_key_step_timestamp_run_id'),
        ),
    )
    op.create_index(
        op.f('ix_logged_model_metrics_tenant_id'), 'logged_model_metrics', ['tenant_id'],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table('logged_model_metrics')
    op.drop_index(UNIQUE_METRIC, table_name='metrics')
    op.create_index('ix_metrics_run_key_step', 'metrics', ['run_id', 'key', 'step'], unique=False)
