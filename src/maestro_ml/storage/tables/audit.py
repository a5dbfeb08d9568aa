"""The audit log: append-only events, hash-chained per tenant, and each chain's head.

``AuditEventRow`` is tenant-scoped (a tenant's session sees its own events only) but its
``tenant_id`` is nullable and has no foreign key: platform-level events (a failed login for
an unknown account) carry none, and an audit trail must outlive the tenant it describes.
``AuditHeadRow`` holds each chain's last seq and hash, updated in the same transaction as
the append; writers lock it (``FOR UPDATE``) so two of them cannot fork a chain.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, synonym

from .base import Base, TenantScoped, id_column


class AuditEventRow(TenantScoped, Base):
    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("chain", "seq"),)

    id: Mapped[str] = id_column()
    tenant_id: Mapped[str | None] = mapped_column(String(32), nullable=True)  # type: ignore[assignment]
    chain: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(BigInteger)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column()
    actor_user_id: Mapped[str | None] = mapped_column(String(32), default=None)
    actor_email: Mapped[str | None] = mapped_column(String(320), default=None)
    actor_api_key_id: Mapped[str | None] = mapped_column(String(32), default=None)
    action: Mapped[str] = mapped_column(String(160))
    method: Mapped[str] = mapped_column(String(8))
    route: Mapped[str] = mapped_column(String(255))
    object: Mapped[dict[str, Any]] = mapped_column(default=dict)
    object_id: Mapped[str | None] = mapped_column(String(128), default=None)
    outcome: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int] = mapped_column(Integer)
    client_ip: Mapped[str | None] = mapped_column(String(64), default=None)
    request_id: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512), default=None)

    # The generic keyset pagination orders by ``created_at``.
    created_at: Mapped[datetime] = synonym("occurred_at")


class AuditHeadRow(Base):
    __tablename__ = "audit_heads"
    chain: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))


Index("ix_audit_events_tenant_time", AuditEventRow.tenant_id, AuditEventRow.occurred_at)
Index("ix_audit_events_object", AuditEventRow.tenant_id, AuditEventRow.object_id)
Index("ix_audit_events_request", AuditEventRow.tenant_id, AuditEventRow.request_id)
