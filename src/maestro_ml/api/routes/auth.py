"""Login, token refresh, logout and "who am I"."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response

from maestro_ml.auth.permissions import ROLE_PERMISSIONS
from maestro_ml.auth.principal import Principal

from ..deps import ContainerDep, require
from ..middleware.rate_limit import throttle_login
from ..schemas.identity import MeRead, RefreshRequest, TokenRead, TokenRequest

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/token", response_model=TokenRead)
def login(body: TokenRequest, container: ContainerDep, request: Request) -> TokenRead:
    """Exchange email and password for an access token (15 min) and a refresh token."""
    throttle_login(request.scope.get("state", {}), body.email)
    request.state.audit_email = body.email.strip().lower()[:320]  # the actor of a failed login
    return TokenRead.model_validate(container.identity.login(body.email, body.password))


@router.post("/refresh", response_model=TokenRead)
def refresh(body: RefreshRequest, container: ContainerDep) -> TokenRead:
    return TokenRead.model_validate(container.identity.refresh(body.refresh_token))


@router.post("/logout", status_code=204)
def logout(body: RefreshRequest, container: ContainerDep) -> Response:
    container.identity.logout(body.refresh_token)
    return Response(status_code=204)


@router.get("/me", response_model=MeRead)
def me(principal: Annotated[Principal, require("tenants:read")]) -> MeRead:
    return MeRead(
        user_id=principal.user_id, tenant_id=principal.tenant_id, email=principal.email,
        role=principal.role.value, permissions=sorted(ROLE_PERMISSIONS[principal.role]),
    )
