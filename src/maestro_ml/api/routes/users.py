"""Users of a tenant (tenant admins), or of any tenant (platform admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response

from maestro_ml.auth.principal import Principal

from ..deps import ContainerDep, Cursor, PageSize, require
from ..schemas.common import Page, page_of
from ..schemas.identity import UserCreate, UserRead, UserUpdate

router = APIRouter(prefix="/api/v1/users", tags=["users"])


@router.post("", response_model=UserRead, status_code=201)
def create_user(
    body: UserCreate, container: ContainerDep,
    principal: Annotated[Principal, require("users:write")],
) -> UserRead:
    user = container.identity.create_user(
        principal, body.email, body.password, body.role, body.tenant_id
    )
    return UserRead.model_validate(user)


@router.get("", response_model=Page[UserRead])
def list_users(
    container: ContainerDep, principal: Annotated[Principal, require("users:read")],
    limit: PageSize, cursor: Cursor = None,
) -> dict:
    return page_of(UserRead, container.identity.list_users(principal, limit, cursor))


@router.get("/{user_id}", response_model=UserRead)
def get_user(
    user_id: str, container: ContainerDep, principal: Annotated[Principal, require("users:read")]
) -> UserRead:
    return UserRead.model_validate(container.identity.get_user(principal, user_id))


@router.patch("/{user_id}", response_model=UserRead)
def update_user(
    user_id: str, body: UserUpdate, container: ContainerDep,
    principal: Annotated[Principal, require("users:write")],
) -> UserRead:
    user = container.identity.update_user(
        principal, user_id, body.role, body.is_active, body.password
    )
    return UserRead.model_validate(user)


@router.delete("/{user_id}", status_code=204)
def delete_user(
    user_id: str, container: ContainerDep,
    principal: Annotated[Principal, require("users:delete")],
) -> Response:
    container.identity.delete_user(principal, user_id)
    return Response(status_code=204)
