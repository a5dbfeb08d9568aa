"""Datasets: multipart upload (versioned by name), import from a URL, list, get, download,
delete."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from fastapi.responses import StreamingResponse

from maestro_ml.auth.principal import Principal

from ..deps import ContainerDep, Cursor, PageSize, require
from ..schemas.common import Page, page_of
from ..schemas.datasets import DatasetImport, DatasetRead

router = APIRouter(prefix="/api/v1/datasets", tags=["datasets"])


@router.post("", response_model=DatasetRead, status_code=201)
def upload_dataset(
    container: ContainerDep, principal: Annotated[Principal, require("datasets:write")],
    file: Annotated[UploadFile, File(description="a .csv or .parquet file")],
    name: Annotated[str, Form(max_length=256, description="same name: next version")],
    description: Annotated[str | None, Form(max_length=10_000)] = None,
) -> DatasetRead:
    dataset = container.datasets.upload(
        principal, name=name, filename=file.filename, content=file.file, description=description
    )
    return DatasetRead.model_validate(dataset)


@router.post("/import", response_model=DatasetRead, status_code=201)
def import_dataset(
    body: DatasetImport, container: ContainerDep,
    principal: Annotated[Principal, require("datasets:write")],
) -> DatasetRead:
    """Fetch a CSV/Parquet file from an http(s) URL (internal addresses refused)."""
    dataset = container.datasets.import_from_url(
        principal, name=body.name, url=body.url, description=body.description
    )
    return DatasetRead.model_validate(dataset)


@router.get("", response_model=Page[DatasetRead])
def list_datasets(
    container: ContainerDep, principal: Annotated[Principal, require("datasets:read")],
    limit: PageSize, cursor: Cursor = None,
    name: Annotated[str | None, Query(max_length=256, description="versions of one")] = None,
) -> dict:
    page = container.datasets.list_datasets(principal, limit=limit, cursor=cursor, name=name)
    return page_of(DatasetRead, page)


@router.get("/{dataset_id}", response_model=DatasetRead)
def get_dataset(
    dataset_id: str, container: ContainerDep,
    principal: Annotated[Principal, require("datasets:read")],
) -> DatasetRead:
    return DatasetRead.model_validate(container.datasets.get_dataset(principal, dataset_id))


@router.get("/{dataset_id}/content", response_class=StreamingResponse)
def download_dataset(
    dataset_id: str, container: ContainerDep,
    principal: Annotated[Principal, require("datasets:read")],
) -> StreamingResponse:
    content = container.datasets.open_content(principal, dataset_id)
    headers = {
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(content.filename)}",
        "Content-Length": str(content.dataset.size_bytes),
        "X-Checksum-Sha256": content.dataset.sha256,
    }
    return StreamingResponse(content.chunks, media_type=content.media_type, headers=headers)


@router.delete("/{dataset_id}", status_code=204)
def delete_dataset(
    dataset_id: str, container: ContainerDep,
    principal: Annotated[Principal, require("datasets:delete")],
) -> Response:
    container.datasets.delete_dataset(principal, dataset_id)
    return Response(status_code=204)
