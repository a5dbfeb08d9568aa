"""Registered models, their versions and aliases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import BIGINT_PK, Base, TenantScoped, created_column, id_column


class ModelRow(TenantScoped, Base):
    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(256))
    task: Mapped[str] = mapped_column(String(32))
    framework: Mapped[str] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = created_column()


class ModelVersionRow(TenantScoped, Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version"),)
    id: Mapped[str] = id_column()
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column()
    artifact_key: Mapped[str] = mapped_column(String(1024))
    format: Mapped[str] = mapped_column(String(32))
    framework: Mapped[str] = mapped_column(String(32))
    signature: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stage: Mapped[str] = mapped_column(String(16), default="None")
    status: Mapped[str] = mapped_column(String(16), default="READY")
    description: Mapped[str | None] = mapped_column(Text, default=None)
    run_id: Mapped[str | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), default=None
    )
    dataset_id: Mapped[str | None] = mapped_column(
        ForeignKey("datasets.id", ondelete="SET NULL"), default=None
    )
    created_by: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = created_column()
    # Registered through the MLflow API: where the files came from and what MLflow reports.
    source: Mapped[str | None] = mapped_column(Text, default=None)
    storage_location: Mapped[str | None] = mapped_column(Text, default=None)
    source_run_id: Mapped[str | None] = mapped_column(String(64), default=None)
    logged_model_id: Mapped[str | None] = mapped_column(String(64), default=None)
    run_link: Mapped[str | None] = mapped_column(Text, default=None)
    status_message: Mapped[str | None] = mapped_column(Text, default=None)
    updated_at: Mapped[datetime | None] = mapped_column(default=None)


class ModelAliasRow(Base):
    __tablename__ = "model_aliases"
    model_id: Mapped[str] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(String(128), primary_key=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))


class LoggedModelRow(TenantScoped, Base):
    """An MLflow 3 logged model: a model's files under an experiment, before any registration."""

    __tablename__ = "logged_models"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    experiment_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(256))
    source_run_id: Mapped[str | None] = mapped_column(String(64), default=None)
    model_type: Mapped[str | None] = mapped_column(String(256), default=None)
    status: Mapped[str] = mapped_column(String(32), default="LOGGED_MODEL_PENDING")
    status_message: Mapped[str | None] = mapped_column(Text, default=None)
    artifact_location: Mapped[str] = mapped_column(Text)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = created_column()


class LoggedModelMetricRow(TenantScoped, Base):
    """A metric value logged for a logged model (MLflow 3 ``log_metric(..., model_id=...)``),
    in the run that logged it and, optionally, on a named dataset. The run's own history
    holds the same value; this row links it to the model. One row per (model, key, step,
    timestamp, run), as in MLflow."""

    __tablename__ = "logged_model_metrics"
    __table_args__ = (UniqueConstraint("model_id", "key", "step", "timestamp", "run_id"),)
    id: Mapped[int] = mapped_column(BIGINT_PK, primary_key=True, autoincrement=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("logged_models.id", ondelete="CASCADE"))
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[float] = mapped_column(Float)
    is_nan: Mapped[bool] = mapped_column(default=False)
    step: Mapped[int] = mapped_column(BigInteger, default=0)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    dataset_name: Mapped[str | None] = mapped_column(String(500), default=None)
    dataset_digest: Mapped[str | None] = mapped_column(String(64), default=None)


Index("ix_models_tenant_created", ModelRow.tenant_id, ModelRow.created_at)
Index("ix_model_versions_tenant_created", ModelVersionRow.tenant_id, ModelVersionRow.created_at)
Index(
    "ix_logged_models_tenant_experiment",
    LoggedModelRow.tenant_id, LoggedModelRow.experiment_id, LoggedModelRow.created_at,
)
