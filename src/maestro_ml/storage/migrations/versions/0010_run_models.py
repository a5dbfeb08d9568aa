"""logged models runs used and produced

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 20:30:00

MLflow 3 records the logged models a run produced (``log_outputs``, with the step) and
used (``log_inputs(models=...)``), and answers them with the run: its client links the
metrics it logs at a step to the models the run produced at that step.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'run_models',
        sa.Column('run_id', sa.String(length=32), nullable=False),
        sa.Column('model_id', sa.String(length=64), nullable=False),
        sa.Column('direction', sa.String(length=8), nullable=False),
        sa.Column('step', sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ['model_id'], ['logged_models.id'], name=op.f('fk_run_models_model_id_logged_models'),
            ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['run_id'], ['runs.id'], name=op.f('fk_run_models_run_id_runs'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('run_id', 'model_id', 'direction', name=op.f('pk_run_models')),
    )


def downgrade() -> None:
    op.drop_table('run_models')
