"""Rolling deployments out and back: revisions, rollback, approval, blue-green, canaries."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from maestro_ml.auth.principal import Principal

from ..deps import ContainerDep, require
from ..schemas.deployments import DeploymentRead, RevisionRead, RollbackIn

router = APIRouter(prefix="/api/v1/deployments", tags=["deployments"])

RevisionNumber = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("/{id_or_name}/revisions", response_model=list[RevisionRead])
def list_revisions(
    id_or_name: str, container: ContainerDep,
    principal: Annotated[Principal, require("deployments:read")],
) -> list[RevisionRead]:
    revisions = container.rollouts.list_revisions(principal, id_or_name)
    return [RevisionRead.model_validate(r) for r in revisions]


@router.get("/{id_or_name}/revisions/{number}", response_model=RevisionRead)
def get_revision(
    id_or_name: str, number: RevisionNumber, container: ContainerDep,
    principal: Annotated[Principal, require("deployments:read")],
) -> RevisionRead:
    return RevisionRead.model_validate(
        container.rollouts.get_revision(principal, id_or_name, number)
    )


@router.post("/{id_or_name}/revisions/{number}/approve", response_model=DeploymentRead)
def approve_revision(
    id_or_name: str, number: RevisionNumber, container: ContainerDep,
    principal: Annotated[Principal, require("deployments:approve")],
) -> DeploymentRead:
    """Approve a pending revision; its creator cannot (403)."""
    return DeploymentRead.model_validate(
        container.rollouts.approve(principal, id_or_name, number)
    )


@router.post("/{id_or_name}/revisions/{number}/reject", response_model=DeploymentRead)
def reject_revision(
    id_or_name: str, number: RevisionNumber, container: ContainerDep,
    principal: Annotated[Principal, require("deployments:approve")],
) -> DeploymentRead:
    return DeploymentRead.model_validate(
        container.rollouts.reject(principal, id_or_name, number)
    )


@router.post("/{id_or_name}/rollback", response_model=DeploymentRead)
def rollback(
    id_or_name: str, container: ContainerDep,
    principal: Annotated[Principal, require("deployments:write")],
    body: RollbackIn | None = None,
) -> DeploymentRead:
    """Serve an earlier revision again (default: the one before the current)."""
    body = body or RollbackIn()
    return DeploymentRead.model_validate(
        container.rollouts.rollback(principal, id_or_name, body.revision, body.reason)
    )


@router.post("/{id_or_name}/switch", response_model=DeploymentRead)
def switch(
    id_or_name: str, container: ContainerDep,
    principal: Annotated[Principal, require("deployments:write")],
) -> DeploymentRead:
    """Blue-green: all traffic to the staged revision at once."""
    return DeploymentRead.model_validate(container.rollouts.switch(principal, id_or_name))


@router.get("/{id_or_name}/canary")
def canary_status(
    id_or_name: str, container: ContainerDep,
    principal: Annotated[Principal, require("deployments:read")],
) -> dict[str, Any]:
    """The canary's step, policy, counters (this replica) and what the evaluator would do."""
    return container.rollouts.canary_status(principal, id_or_name)


@router.post("/{id_or_name}/canary/advance", response_model=DeploymentRead)
def canary_advance(
    id_or_name: str, container: ContainerDep,
    principal: Annotated[Principal, require("deployments:write")],
) -> DeploymentRead:
    return DeploymentRead.model_validate(
        container.rollouts.canary_advance(principal, id_or_name)
    )


@router.post("/{id_or_name}/canary/abort", response_model=DeploymentRead)
def canary_abort(
    id_or_name: str, container: ContainerDep,
    principal: Annotated[Principal, require("deployments:write")],
) -> DeploymentRead:
    return DeploymentRead.model_validate(container.rollouts.canary_abort(principal, id_or_name))


@router.get("/{id_or_name}/stats")
def variant_stats(
    id_or_name: str, container: ContainerDep,
    principal: Annotated[Principal, require("deployments:read")],
) -> dict[str, Any]:
    """Per-variant requests, errors and latency, and shadow agreement (this replica)."""
    return container.rollouts.variant_report(principal, id_or_name)
