"""mlflow registry

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 21:30:00

What the MLflow model registry reports about a version (its source URI, download location,
run, logged model, status message, last update) and MLflow 3 logged models.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import maestro_ml.storage.tables.base

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

_VERSION_COLUMNS = (
    ("source", sa.Text()),
    ("storage_location", sa.Text()),
    ("source_run_id", sa.String(length=64)),
    ("logged_model_id", sa.String(length=64)),
    ("run_link", sa.Text()),
    ("status_message", sa.Text()),
    ("updated_at", maestro_ml.storage.tables.base.UTCDateTime(timezone=True)),
)


def upgrade() -> None:
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        for name, column_type in _VERSION_COLUMNS:
            batch_op.add_column(sa.Column(name, column_type, nullable=True))

    op.create_table(
        "logged_models",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("experiment_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("source_run_id", sa.String(length=64), nullable=True),
        sa.Column("model_type", sa.String(length=256), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=True),
        sa.Column("artifact_location", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=True),
        sa.Column(
            "created_at", maestro_ml.storage.tables.base.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "updated_at", maestro_ml.storage.tables.base.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_logged_models_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_logged_models")),
    )
    with op.batch_alter_table("logged_models", schema=None) as batch_op:
        batch_op.create_index(
            "ix_logged_models_tenant_experiment",
            ["tenant_id", "experiment_id", "created_at"], unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_logged_models_tenant_id"), ["tenant_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("logged_models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_logged_models_tenant_id"))
        batch_op.drop_index("ix_logged_models_tenant_experiment")
    op.drop_table("logged_models")
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        for name, _ in reversed(_VERSION_COLUMNS):
            batch_op.drop_column(name)
