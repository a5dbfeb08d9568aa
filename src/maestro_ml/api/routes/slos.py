"""SLOs: computed status, and each deployment's objectives.

The API's own SLOs are platform-wide and listed for platform admins only; everyone else
sees the SLOs of their tenant's deployments.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from maestro_ml.auth.principal import Principal
from maestro_ml.domain.slo import DeploymentObjectives
from maestro_ml.services.slos import DeploymentSlos

from ..deps import ContainerDep, Cursor, PageSize, require
from ..schemas.slos import DeploymentSlosRead, DeploymentSlosUpdate, SloPage, SloRead

router = APIRouter(prefix="/api/v1/slos", tags=["slos"])


@router.get("", response_model=SloPage)
def list_slos(
    container: ContainerDep, principal: Annotated[Principal, require("slos:read")],
    limit: PageSize, cursor: Cursor = None,
) -> SloPage:
    statuses, next_cursor = container.slos.list_slos(principal, limit=limit, cursor=cursor)
    return SloPage(items=[SloRead.of(s) for s in statuses], next_cursor=next_cursor)


@router.get("/deployments/{id_or_name}", response_model=DeploymentSlosRead)
def get_deployment_slos(
    id_or_name: str, container: ContainerDep,
    principal: Annotated[Principal, require("slos:read")],
) -> DeploymentSlosRead:
    return _read(container.slos.deployment_slos(principal, id_or_name))


@router.put("/deployments/{id_or_name}", response_model=DeploymentSlosRead)
def put_deployment_slos(
    id_or_name: str, body: DeploymentSlosUpdate, container: ContainerDep,
    principal: Annotated[Principal, require("deployments:write")],
) -> DeploymentSlosRead:
    objectives = DeploymentObjectives(
        body.availability_objective, body.latency_objective, body.latency_threshold_seconds
    )
    found = container.slos.set_deployment_objectives(principal, id_or_name, objectives)
    container.slo_flusher.refresh_thresholds()  # this replica applies the new threshold at once
    return _read(found)


@router.get("/{slo_name}", response_model=SloRead)
def get_slo(
    slo_name: str, container: ContainerDep,
    principal: Annotated[Principal, require("slos:read")],
) -> SloRead:
    return SloRead.of(container.slos.get_slo(principal, slo_name))


def _read(found: DeploymentSlos) -> DeploymentSlosRead:
    objectives = found.objectives
    return DeploymentSlosRead(
        deployment_id=found.deployment_id, deployment_name=found.deployment_name,
        overrides=DeploymentSlosUpdate(
            availability_objective=objectives.availability_objective,
            latency_objective=objectives.latency_objective,
            latency_threshold_seconds=objectives.latency_threshold_seconds,
        ),
        slos=[SloRead.of(s) for s in found.statuses],
    )
