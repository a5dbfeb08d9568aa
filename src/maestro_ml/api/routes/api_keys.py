"""API keys: every user manages their own; tenant admins see and revoke all in the tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from maestro_ml.auth.principal import Principal

from ..deps import ContainerDep, Cursor, PageSize, require
from ..schemas.common import Page, page_of
from ..schemas.identity import ApiKeyCreate, ApiKeyCreated, ApiKeyRead, ApiKeyRotate

router = APIRouter(prefix="/api/v1/api-keys", tags=["api-keys"])


@router.post("", response_model=ApiKeyCreated, status_code=201)
def create_api_key(
    body: ApiKeyCreate, container: ContainerDep,
    principal: Annotated[Principal, require("api_keys:write")],
) -> ApiKeyCreated:
    """Create a key for yourself (at most your own role). The key is shown only here."""
    row, key = container.identity.create_api_key(
        principal, body.name, body.role, body.expires_in_days
    )
    return ApiKeyCreated.model_validate({**ApiKeyRead.model_validate(row).model_dump(), "key": key})


@router.get("", response_model=Page[ApiKeyRead])
def list_api_keys(
    container: ContainerDep, principal: Annotated[Principal, require("api_keys:read")],
    limit: PageSize, cursor: Cursor = None,
) -> dict:
    return page_of(ApiKeyRead, container.identity.list_api_keys(principal, limit, cursor))


@router.delete("/{key_id}", response_model=ApiKeyRead)
def revoke_api_key(
    key_id: str, container: ContainerDep,
    principal: Annotated[Principal, require("api_keys:write")],
) -> ApiKeyRead:
    return ApiKeyRead.model_validate(container.identity.revoke_api_key(principal, key_id))


@router.post("/{key_id}/rotate", response_model=ApiKeyCreated, status_code=201)
def rotate_api_key(
    key_id: str, container: ContainerDep,
    principal: Annotated[Principal, require("api_keys:write")],
    body: ApiKeyRotate | None = None,
) -> ApiKeyCreated:
    """Replace a key with a new one (same name, role and lifetime), shown only here.

    The old key keeps working for ``grace_seconds`` (default 0: revoked at once).
    """
    grace = body.grace_seconds if body else 0
    row, key = container.identity.rotate_api_key(principal, key_id, grace)
    return ApiKeyCreated.model_validate({**ApiKeyRead.model_validate(row).model_dump(), "key": key})
