"""Deployments: named endpoints that serve model versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, TenantScoped, created_column, id_column


class DeploymentRow(TenantScoped, Base):
    __tablename__ = "deployments"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(63))
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    model_version_id: Mapped[str] = mapped_column(
        ForeignKey("model_versions.id", ondelete="RESTRICT")
    )
    """The primary variant's version of the current revision (what plain views show)."""
    environment: Mapped[str] = mapped_column(String(16))
    replicas: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(16), default="ready")
    description: Mapped[str | None] = mapped_column(Text, default=None)
    created_by: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = created_column()
    current_revision_id: Mapped[str | None] = mapped_column(String(32), default=None)
    """The active revision; None until a revision that needs approval is approved."""
    staged_revision_id: Mapped[str | None] = mapped_column(String(32), default=None)
    """A blue-green revision loaded and waiting for the switch."""
    require_approval: Mapped[bool] = mapped_column(default=False)


Index("ix_deployments_tenant_created", DeploymentRow.tenant_id, DeploymentRow.created_at)


class DeploymentRevisionRow(TenantScoped, Base):
    """One immutable configuration of a deployment; only ``state`` (and the decision) moves."""

    __tablename__ = "deployment_revisions"
    __table_args__ = (UniqueConstraint("deployment_id", "number"),)
    id: Mapped[str] = id_column()
    deployment_id: Mapped[str] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column()
    kind: Mapped[str] = mapped_column(String(16), default="single")
    strategy: Mapped[str] = mapped_column(String(16), default="rolling")
    variants: Mapped[list[Any]] = mapped_column(JSON)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    composite: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    state: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    created_by: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = created_column()
    decided_by: Mapped[str | None] = mapped_column(String(32), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
