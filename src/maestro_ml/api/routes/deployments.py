"""Deployments: named endpoints serving model versions (predict lives in predict.py, the
revision history and rollout actions in rollouts.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response

from maestro_ml.auth.principal import Principal
from maestro_ml.services.revisions import RevisionChange, VariantRequest

from ..deps import ContainerDep, Cursor, PageSize, require
from ..schemas.common import Page, page_of
from ..schemas.deployments import (
    DeploymentCreate,
    DeploymentRead,
    DeploymentUpdate,
    Environment,
    RevisionFields,
)

router = APIRouter(prefix="/api/v1/deployments", tags=["deployments"])


@router.post("", response_model=DeploymentRead, status_code=201)
def create_deployment(
    body: DeploymentCreate, container: ContainerDep,
    principal: Annotated[Principal, require("deployments:write")],
) -> DeploymentRead:
    deployment = container.deployments.create_deployment(
        principal, body.model_id, version=body.version, alias=body.alias, name=body.name,
        environment=body.environment, replicas=body.replicas, description=body.description,
        change=revision_change(body), require_approval=body.require_approval,
    )
    return DeploymentRead.model_validate(deployment)


@router.get("", response_model=Page[DeploymentRead])
def list_deployments(
    container: ContainerDep, principal: Annotated[Principal, require("deployments:read")],
    limit: PageSize, cursor: Cursor = None, model_id: str | None = None,
    environment: Environment | None = None,
) -> dict:
    page = container.deployments.list_deployments(
        principal, limit, cursor, model_id=model_id, environment=environment
    )
    return page_of(DeploymentRead, page)


@router.get("/{id_or_name}", response_model=DeploymentRead)
def get_deployment(
    id_or_name: str, container: ContainerDep,
    principal: Annotated[Principal, require("deployments:read")],
) -> DeploymentRead:
    return DeploymentRead.model_validate(
        container.deployments.get_deployment(principal, id_or_name)
    )


@router.patch("/{id_or_name}", response_model=DeploymentRead)
def update_deployment(
    id_or_name: str, body: DeploymentUpdate, container: ContainerDep,
    principal: Annotated[Principal, require("deployments:write")],
) -> DeploymentRead:
    deployment = container.deployments.update_deployment(
        principal, id_or_name, version=body.version, alias=body.alias,
        replicas=body.replicas, description=body.description,
        change=revision_change(body), require_approval=body.require_approval,
    )
    return DeploymentRead.model_validate(deployment)


@router.delete("/{id_or_name}", status_code=204)
def delete_deployment(
    id_or_name: str, container: ContainerDep,
    principal: Annotated[Principal, require("deployments:delete")],
) -> Response:
    container.deployments.delete_deployment(principal, id_or_name)
    return Response(status_code=204)


def revision_change(body: RevisionFields) -> RevisionChange:
    """The serving part of a create or update body (version/alias are added by the service)."""
    settings = {
        name: value for name in ("log_sample_rate", "shadow_sample_rate", "shadow_tolerance")
        if (value := getattr(body, name)) is not None
    }
    variants = None
    if body.variants is not None:
        variants = [VariantRequest(**variant.model_dump()) for variant in body.variants]
    return RevisionChange(
        variants=variants, strategy=body.strategy,
        canary=body.canary.model_dump() if body.canary is not None else None,
        kind=body.kind, composite=body.composite, settings=settings, reason=body.reason,
    )
