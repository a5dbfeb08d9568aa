"""The model registry: models, versions, stages, aliases and lineage."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from maestro_ml.auth.principal import Principal

from ..deps import ContainerDep, Cursor, PageSize, require
from ..schemas.common import Page, page_of
from ..schemas.registry import (
    AliasSet,
    Framework,
    LineageRead,
    ModelCreate,
    ModelRead,
    ModelUpdate,
    ModelVersionRead,
    StageChange,
    Task,
    VersionUpdate,
)

router = APIRouter(prefix="/api/v1/models", tags=["models"])


@router.post("", response_model=ModelRead, status_code=201)
def create_model(
    body: ModelCreate, container: ContainerDep,
    principal: Annotated[Principal, require("models:write")],
) -> ModelRead:
    model = container.registry.create_model(
        principal, body.name, body.task, body.framework, body.description, body.tags
    )
    return ModelRead.model_validate(model)


@router.get("", response_model=Page[ModelRead])
def list_models(
    container: ContainerDep, principal: Annotated[Principal, require("models:read")],
    limit: PageSize, cursor: Cursor = None,
    name: Annotated[str | None, Query(description="exact name")] = None,
    q: Annotated[str | None, Query(max_length=256, description="name contains")] = None,
    task: Task | None = None, framework: Framework | None = None,
) -> dict:
    page = container.registry.list_models(
        principal, limit, cursor, name=name, q=q, task=task, framework=framework
    )
    return page_of(ModelRead, page)


@router.get("/{model_id}", response_model=ModelRead)
def get_model(
    model_id: str, container: ContainerDep,
    principal: Annotated[Principal, require("models:read")],
) -> ModelRead:
    return ModelRead.model_validate(container.registry.get_model(principal, model_id))


@router.patch("/{model_id}", response_model=ModelRead)
def update_model(
    model_id: str, body: ModelUpdate, container: ContainerDep,
    principal: Annotated[Principal, require("models:write")],
) -> ModelRead:
    model = container.registry.update_model(principal, model_id, body.description, body.tags)
    return ModelRead.model_validate(model)


@router.delete("/{model_id}", status_code=204)
def delete_model(
    model_id: str, container: ContainerDep,
    principal: Annotated[Principal, require("models:delete")],
) -> Response:
    container.registry.delete_model(principal, model_id)
    return Response(status_code=204)


@router.get("/{model_id}/versions", response_model=Page[ModelVersionRead])
def list_versions(
    model_id: str, container: ContainerDep,
    principal: Annotated[Principal, require("models:read")],
    limit: PageSize, cursor: Cursor = None,
) -> dict:
    page = container.registry.list_versions(principal, model_id, limit, cursor)
    return page_of(ModelVersionRead, page)


@router.get("/{model_id}/versions/{version}", response_model=ModelVersionRead)
def get_version(
    model_id: str, version: int, container: ContainerDep,
    principal: Annotated[Principal, require("models:read")],
) -> ModelVersionRead:
    found = container.registry.get_version(principal, model_id, version)
    return ModelVersionRead.model_validate(found)


@router.patch("/{model_id}/versions/{version}", response_model=ModelVersionRead)
def update_version(
    model_id: str, version: int, body: VersionUpdate, container: ContainerDep,
    principal: Annotated[Principal, require("models:write")],
) -> ModelVersionRead:
    updated = container.registry.update_version(
        principal, model_id, version, body.description, body.tags, body.stage
    )
    return ModelVersionRead.model_validate(updated)


@router.post("/{model_id}/versions/{version}/stage", response_model=ModelVersionRead)
def transition_stage(
    model_id: str, version: int, body: StageChange, container: ContainerDep,
    principal: Annotated[Principal, require("models:promote")],
) -> ModelVersionRead:
    updated = container.registry.transition_stage(
        principal, model_id, version, body.stage, body.archive_existing
    )
    return ModelVersionRead.model_validate(updated)


@router.get("/{model_id}/versions/{version}/lineage", response_model=LineageRead)
def get_lineage(
    model_id: str, version: int, container: ContainerDep,
    principal: Annotated[Principal, require("models:read")],
) -> LineageRead:
    return LineageRead.model_validate(container.registry.lineage(principal, model_id, version))


@router.get("/{model_id}/aliases/{alias}", response_model=ModelVersionRead)
def get_alias(
    model_id: str, alias: str, container: ContainerDep,
    principal: Annotated[Principal, require("models:read")],
) -> ModelVersionRead:
    found = container.registry.get_alias(principal, model_id, alias)
    return ModelVersionRead.model_validate(found)


@router.put("/{model_id}/aliases/{alias}", response_model=ModelVersionRead)
def set_alias(
    model_id: str, alias: str, body: AliasSet, container: ContainerDep,
    principal: Annotated[Principal, require("models:promote")],
) -> ModelVersionRead:
    updated = container.registry.set_alias(principal, model_id, alias, body.version)
    return ModelVersionRead.model_validate(updated)


@router.delete("/{model_id}/aliases/{alias}", status_code=204)
def delete_alias(
    model_id: str, alias: str, container: ContainerDep,
    principal: Annotated[Principal, require("models:promote")],
) -> Response:
    container.registry.delete_alias(principal, model_id, alias)
    return Response(status_code=204)
