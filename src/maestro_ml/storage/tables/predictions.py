"""The prediction log and the ground-truth feedback given for logged predictions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, TenantScoped, created_column


class PredictionLogRow(TenantScoped, Base):
    """One logged prediction request. No foreign key to the deployment: the log outlives it,
    and a batch written after a deployment was deleted must not fail."""

    __tablename__ = "prediction_log"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    deployment_id: Mapped[str] = mapped_column(String(32))
    revision: Mapped[int | None] = mapped_column(default=None)
    variant: Mapped[str] = mapped_column(String(63))
    model_version_id: Mapped[str | None] = mapped_column(String(32), default=None)
    inputs: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    outputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    row_count: Mapped[int] = mapped_column(default=0)
    latency_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = created_column()


class PredictionFeedbackRow(TenantScoped, Base):
    """The true label(s) or value(s) of a logged prediction; deployment and variant are copied
    from the prediction so an A/B report reads one table per side."""

    __tablename__ = "prediction_feedback"
    prediction_id: Mapped[str] = mapped_column(
        ForeignKey("prediction_log.id", ondelete="CASCADE"), primary_key=True
    )
    deployment_id: Mapped[str] = mapped_column(String(32))
    variant: Mapped[str] = mapped_column(String(63))
    kind: Mapped[str] = mapped_column(String(8))
    truths: Mapped[list[Any]] = mapped_column(default=list)
    created_by: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = created_column()


Index(
    "ix_prediction_log_tenant_deployment_created", PredictionLogRow.tenant_id,
    PredictionLogRow.deployment_id, PredictionLogRow.created_at,
)
Index("ix_prediction_log_created", PredictionLogRow.created_at)
Index(
    "ix_prediction_feedback_tenant_deployment", PredictionFeedbackRow.tenant_id,
    PredictionFeedbackRow.deployment_id,
)
