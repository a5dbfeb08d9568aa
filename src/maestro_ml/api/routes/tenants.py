"""Tenants (platform admins create them) and tenant settings (tenant admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from maestro_ml.auth.principal import Principal

from ..deps import ContainerDep, Cursor, PageSize, require
from ..schemas.common import Page, page_of
from ..schemas.identity import TenantCreate, TenantRead, TenantSettingsUpdate

router = APIRouter(prefix="/api/v1/tenants", tags=["tenants"])


@router.post("", response_model=TenantRead, status_code=201)
def create_tenant(
    body: TenantCreate, container: ContainerDep,
    principal: Annotated[Principal, require("tenants:write")],
) -> TenantRead:
    return TenantRead.model_validate(container.identity.create_tenant(principal, body.name))


@router.get("", response_model=Page[TenantRead])
def list_tenants(
    container: ContainerDep, principal: Annotated[Principal, require("tenants:read")],
    limit: PageSize, cursor: Cursor = None,
) -> dict:
    return page_of(TenantRead, container.identity.list_tenants(principal, limit, cursor))


@router.get("/{tenant_id}", response_model=TenantRead)
def get_tenant(
    tenant_id: str, container: ContainerDep,
    principal: Annotated[Principal, require("tenants:read")],
) -> TenantRead:
    return TenantRead.model_validate(container.identity.get_tenant(principal, tenant_id))


@router.patch("/{tenant_id}/settings", response_model=TenantRead)
def update_settings(
    tenant_id: str, body: TenantSettingsUpdate, container: ContainerDep,
    principal: Annotated[Principal, require("tenants:settings")],
) -> TenantRead:
    """Tenant policies, e.g. ``allow_pickle_models`` (off by default)."""
    changes = body.model_dump(exclude_none=True)
    tenant = container.identity.update_tenant_settings(principal, tenant_id, changes)
    return TenantRead.model_validate(tenant)
