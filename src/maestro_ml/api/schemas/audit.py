"""Audit events as the query API returns them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .common import Read


class AuditEventRead(Read):
    id: str
    chain: str
    seq: int
    tenant_id: str | None
    occurred_at: datetime
    actor_user_id: str | None
    actor_email: str | None
    actor_api_key_id: str | None
    action: str
    method: str
    route: str
    object: dict[str, Any]
    object_id: str | None
    outcome: str
    status_code: int
    client_ip: str | None
    request_id: str
    user_agent: str | None
    prev_hash: str
    hash: str
