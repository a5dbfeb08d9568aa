"""Deployments: named endpoints that serve model versions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
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
    environment: Mapped[str] = mapped_column(String(16))
    replicas: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(16), default="ready")
    description: Mapped[str | None] = mapped_column(Text, default=None)
    created_by: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = created_column()



Index("ix_deployments_tenant_created", DeploymentRow.tenant_id, DeploymentRow.created_at)
