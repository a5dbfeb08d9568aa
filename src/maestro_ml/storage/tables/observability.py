"""SLO records: per-minute request counts per target, and per-deployment SLO overrides.

Each process (``source``) writes its own rows, adding to them on every flush, so replicas
never contend for a row; reads sum over sources. ``minute`` is minutes since the Unix epoch.
API buckets are platform-wide (no tenant); deployment buckets and overrides belong to the
deployment's tenant, so the tenant session scopes them like every other tenant row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, TenantScoped, created_column


class ApiSloBucketRow(Base):
    __tablename__ = "slo_api_buckets"
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    bad: Mapped[int] = mapped_column(BigInteger, default=0)
    slow: Mapped[int] = mapped_column(BigInteger, default=0)


class DeploymentSloBucketRow(TenantScoped, Base):
    __tablename__ = "slo_deployment_buckets"
    # No foreign key to the deployment: counts of a deleted deployment age out with retention.
    deployment_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    bad: Mapped[int] = mapped_column(BigInteger, default=0)
    slow: Mapped[int] = mapped_column(BigInteger, default=0)


Index("ix_slo_deployment_buckets_minute", DeploymentSloBucketRow.minute)


class DeploymentSloRow(TenantScoped, Base):
    """A deployment's own objectives; a null column means "the platform default"."""

    __tablename__ = "deployment_slos"
    deployment_id: Mapped[str] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True
    )
    availability_objective: Mapped[float | None] = mapped_column(Float, default=None)
    latency_objective: Mapped[float | None] = mapped_column(Float, default=None)
    latency_threshold_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    updated_at: Mapped[datetime] = created_column()
