"""metrics keep their plain (run, key, step) index

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 21:00:00

0009 made the metrics index unique over whole values so that inserts could skip a value
already stored. On PostgreSQL an ``ON CONFLICT DO NOTHING`` insert of a 1000-metric batch
takes 40% longer than a plain one (speculative insertion, row by row), and a
``NOT EXISTS`` guard 28%: the logging path appends every value again, and only the writes
that repeat values in practice (a model's link to values its run already holds) leave out
those already stored. The index goes back to what history reads need.
"""

from __future__ import annotations

from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ux_metrics_run_key_step_value', table_name='metrics')
    op.create_index('ix_metrics_run_key_step', 'metrics', ['run_id', 'key', 'step'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_metrics_run_key_step', table_name='metrics')
    op.execute(
        "DELETE FROM metrics WHERE id NOT IN (SELECT min(id) FROM metrics "
        "GROUP BY run_id, key, step, timestamp, value, is_nan)"
    )
    op.create_index('ux_metrics_run_key_step_value', 'metrics',
                    ['run_id', 'key', 'step', 'timestamp', 'value', 'is_nan'], unique=True)
