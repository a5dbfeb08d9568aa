"""Schemas of tokens, tenants, users and API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from .common import Read, Strict


class TokenRequest(Strict):
    email: str = Field(max_length=320)
    password: str = Field(max_length=256)


class RefreshRequest(Strict):
    refresh_token: str = Field(max_length=512)


class TokenRead(Read):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int


class TenantCreate(Strict):
    name: str = Field(min_length=1, max_length=128)


class TenantSettingsUpdate(Strict):
    allow_pickle_models: bool | None = None


class TenantRead(Read):
    id: str
    name: str
    settings: dict[str, Any]
    created_at: datetime


class UserCreate(Strict):
    email: str = Field(max_length=320)
    password: str = Field(max_length=256)
    role: str = "viewer"
    tenant_id: str | None = Field(default=None, max_length=64)


class UserUpdate(Strict):
    role: str | None = None
    is_active: bool | None = None
    password: str | None = Field(default=None, max_length=256)


class UserRead(Read):
    id: str
    tenant_id: str
    email: str
    role: str
    is_active: bool
    created_at: datetime


class MeRead(Read):
    user_id: str
    tenant_id: str
    email: str
    role: str
    permissions: list[str]


class ApiKeyCreate(Strict):
    name: str = Field(min_length=1, max_length=128)
    role: str | None = None
    expires_in_days: int | None = None


class ApiKeyRotate(Strict):
    grace_seconds: int = Field(
        default=0, ge=0, le=7 * 24 * 3600,
        description="how long the old key keeps working; 0 revokes it at once (max 7 days)",
    )


class ApiKeyRead(Read):
    id: str
    name: str
    prefix: str
    role: str
    user_id: str
    tenant_id: str
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    created_at: datetime


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="the secret key; shown only in this response")
