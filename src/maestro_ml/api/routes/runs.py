"""Runs: lifecycle, search, and logging of params, metrics and tags."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from maestro_ml.auth.principal import Principal
from maestro_ml.domain.pagination import clamp_page_size

from ..deps import ContainerDep, Cursor, PageSize, appends_run_data, require
from ..schemas.common import Page, page_of
from ..schemas.tracking import (
    BatchIn,
    BatchRead,
    MetricIn,
    MetricRead,
    ParamIn,
    RunCreate,
    RunRead,
    RunSearch,
    RunUpdate,
    TagIn,
    View,
)

router = APIRouter(prefix="/api/v1/runs", tags=["runs"])


@router.post("", response_model=RunRead, status_code=201)
def create_run(
    body: RunCreate, container: ContainerDep,
    principal: Annotated[Principal, require("runs:write")],
) -> RunRead:
    run = container.runs.create_run(
        principal, experiment_id=body.experiment_id, name=body.name,
        parent_run_id=body.parent_run_id, dataset_id=body.dataset_id, tags=body.tags,
        start_time=body.start_time,
    )
    return RunRead.model_validate(run)


@router.get("", response_model=Page[RunRead])
def list_runs(
    container: ContainerDep, principal: Annotated[Principal, require("runs:read")],
    limit: PageSize, cursor: Cursor = None,
    experiment_id: Annotated[list[str] | None, Query(description="repeatable")] = None,
    filter: Annotated[str | None, Query(description="e.g. metrics.acc > 0.9")] = None,  # noqa: A002
    order_by: Annotated[list[str] | None, Query(description="e.g. metrics.acc DESC")] = None,
    view: Annotated[View, Query(description="active, deleted or all")] = "active",
) -> dict[str, Any]:
    page = container.runs.search_runs(
        principal, experiment_ids=experiment_id, filter=filter, order_by=order_by, view=view,
        limit=limit, cursor=cursor,
    )
    return page_of(RunRead, page)


@router.post("/search", response_model=Page[RunRead])
def search_runs(
    body: RunSearch, container: ContainerDep,
    principal: Annotated[Principal, require("runs:read")],
) -> dict[str, Any]:
    limit = clamp_page_size(body.limit, maximum=container.settings.max_page_size)
    page = container.runs.search_runs(
        principal, experiment_ids=body.experiment_ids, filter=body.filter,
        order_by=body.order_by, view=body.view, limit=limit, cursor=body.cursor,
    )
    return page_of(RunRead, page)


@router.get("/{run_id}", response_model=RunRead)
def get_run(
    run_id: str, container: ContainerDep, principal: Annotated[Principal, require("runs:read")]
) -> RunRead:
    return RunRead.model_validate(container.runs.get_run(principal, run_id))


@router.patch("/{run_id}", response_model=RunRead)
def update_run(
    run_id: str, body: RunUpdate, container: ContainerDep,
    principal: Annotated[Principal, require("runs:write")],
) -> RunRead:
    run = container.runs.update_run(
        principal, run_id, status=body.status, end_time=body.end_time, name=body.name
    )
    return RunRead.model_validate(run)


@router.delete("/{run_id}", status_code=204)
def delete_run(
    run_id: str, container: ContainerDep, principal: Annotated[Principal, require("runs:delete")]
) -> Response:
    container.runs.delete_run(principal, run_id)
    return Response(status_code=204)


@router.post("/{run_id}/restore", response_model=RunRead)
def restore_run(
    run_id: str, container: ContainerDep, principal: Annotated[Principal, require("runs:delete")]
) -> RunRead:
    return RunRead.model_validate(container.runs.restore_run(principal, run_id))


@router.post("/{run_id}/params", response_model=ParamIn, status_code=201)
@appends_run_data
def log_param(
    run_id: str, body: ParamIn, container: ContainerDep,
    principal: Annotated[Principal, require("runs:write")],
) -> ParamIn:
    container.run_data.log_param(principal, run_id, body.key, body.value)
    return body


@router.post("/{run_id}/metrics", response_model=MetricRead, status_code=201)
@appends_run_data
def log_metric(
    run_id: str, body: MetricIn, container: ContainerDep,
    principal: Annotated[Principal, require("runs:write")],
) -> MetricRead:
    metric = container.run_data.log_metric(
        principal, run_id, body.key, body.value, body.step, body.timestamp
    )
    return MetricRead.model_validate(metric)


@router.post("/{run_id}/tags", response_model=TagIn, status_code=201)
def set_tag(
    run_id: str, body: TagIn, container: ContainerDep,
    principal: Annotated[Principal, require("runs:write")],
) -> TagIn:
    container.run_data.set_tag(principal, run_id, body.key, body.value)
    return body


@router.delete("/{run_id}/tags/{key:path}", status_code=204)
def delete_tag(
    run_id: str, key: str, container: ContainerDep,
    principal: Annotated[Principal, require("runs:write")],
) -> Response:
    container.run_data.delete_tag(principal, run_id, key)
    return Response(status_code=204)


@router.post("/{run_id}/batch", response_model=BatchRead)
@appends_run_data
def log_batch(
    run_id: str, body: BatchIn, container: ContainerDep,
    principal: Annotated[Principal, require("runs:write")],
) -> BatchRead:
    logged = container.run_data.log_batch(
        principal, run_id,
        params=[p.model_dump() for p in body.params],
        metrics=[m.model_dump() for m in body.metrics],
        tags=[t.model_dump() for t in body.tags],
    )
    return BatchRead.model_validate(logged)


@router.get("/{run_id}/metrics/{key:path}/history", response_model=Page[MetricRead])
def metric_history(
    run_id: str, key: str, container: ContainerDep,
    principal: Annotated[Principal, require("runs:read")],
    limit: PageSize, cursor: Cursor = None,
) -> dict[str, Any]:
    page = container.run_data.metric_history(principal, run_id, key, limit=limit, cursor=cursor)
    return page_of(MetricRead, page)
