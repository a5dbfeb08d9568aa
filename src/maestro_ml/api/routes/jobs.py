"""Jobs: list (by status and kind), inspect, read logs (oldest first), cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from maestro_ml.auth.principal import Principal

from ..deps import ContainerDep, Cursor, PageSize, require
from ..schemas.common import Page, page_of
from ..schemas.jobs import JobLogRead, JobRead

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


@router.get("", response_model=Page[JobRead])
def list_jobs(
    container: ContainerDep, principal: Annotated[Principal, require("jobs:read")],
    limit: PageSize, cursor: Cursor = None,
    status: Annotated[str | None, Query(description="queued|running|succeeded|failed|cancelled")]
    = None,
    kind: Annotated[str | None, Query(max_length=32, description="e.g. train")] = None,
) -> dict:
    page = container.jobs.list_jobs(principal, limit=limit, cursor=cursor, status=status,
                                    kind=kind)
    return page_of(JobRead, page)


@router.get("/{job_id}", response_model=JobRead)
def get_job(
    job_id: str, container: ContainerDep, principal: Annotated[Principal, require("jobs:read")]
) -> JobRead:
    return JobRead.model_validate(container.jobs.get_job(principal, job_id))


@router.get("/{job_id}/logs", response_model=Page[JobLogRead])
def job_logs(
    job_id: str, container: ContainerDep, principal: Annotated[Principal, require("jobs:read")],
    limit: PageSize, cursor: Cursor = None,
) -> dict:
    page = container.jobs.list_logs(principal, job_id, limit=limit, cursor=cursor)
    return page_of(JobLogRead, page)


@router.post("/{job_id}/cancel", response_model=JobRead)
def cancel_job(
    job_id: str, container: ContainerDep,
    principal: Annotated[Principal, require("jobs:cancel")],
) -> JobRead:
    return JobRead.model_validate(container.jobs.cancel_job(principal, job_id))
