"""Run artifacts over HTTP: raw-body streamed upload, streamed download, listing.

The path arrives percent-decoded by Starlette (``%2F`` is already ``/``), so the raw request
path is checked too: an encoded traversal (``%2e%2e``, ``%252e``, ``%2F``, ``%5C`` ...) is
refused before anything is decoded, read or written.
"""

from __future__ import annotations

import mimetypes
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from maestro_ml.auth.principal import Principal
from maestro_ml.domain.paths import canonical_key

from ..deps import ContainerDep, Cursor, PageSize, require
from ..schemas.common import Page, page_of
from ..schemas.tracking import ArtifactRead, ArtifactUploaded

router = APIRouter(prefix="/api/v1/runs", tags=["artifacts"])

_MARKER = "/artifacts/"


def artifact_path(request: Request, path: str) -> str:
    """The canonical artifact key of the request, refusing traversal in any encoding."""
    raw = request.scope.get("raw_path")
    if isinstance(raw, bytes | bytearray):
        _, marker, encoded = bytes(raw).decode("latin-1").partition(_MARKER)
        if marker:
            canonical_key(encoded)
    return canonical_key(path)


@router.put("/{run_id}/artifacts/{path:path}", response_model=ArtifactUploaded, status_code=201)
async def upload_artifact(
    run_id: str, path: str, request: Request, container: ContainerDep,
    principal: Annotated[Principal, require("artifacts:write")],
) -> ArtifactUploaded:
    key = artifact_path(request, path)
    row = await container.run_artifacts.upload_artifact(principal, run_id, key, request.stream())
    return ArtifactUploaded.model_validate(row)


@router.get("/{run_id}/artifacts", response_model=Page[ArtifactRead])
def list_artifacts(
    run_id: str, container: ContainerDep,
    principal: Annotated[Principal, require("artifacts:read")],
    limit: PageSize, cursor: Cursor = None,
    prefix: Annotated[str | None, Query(description="only paths starting with this")] = None,
) -> dict[str, Any]:
    page = container.run_artifacts.list_artifacts(
        principal, run_id, prefix=prefix, limit=limit, cursor=cursor
    )
    return page_of(ArtifactRead, page)


@router.get("/{run_id}/artifacts/{path:path}", response_class=StreamingResponse)
def download_artifact(
    run_id: str, path: str, request: Request, container: ContainerDep,
    principal: Annotated[Principal, require("artifacts:read")],
) -> StreamingResponse:
    download = container.run_artifacts.open_artifact(
        principal, run_id, artifact_path(request, path)
    )
    media_type = mimetypes.guess_type(download.path)[0] or "application/octet-stream"
    headers = {
        "Content-Length": str(download.size_bytes),
        "X-Checksum-Sha256": download.sha256,
        # Uploaded HTML or SVG must never run as a page of this origin.
        "Content-Disposition": f"attachment; filename*=UTF-8''{_quoted_name(download.path)}",
        "X-Content-Type-Options": "nosniff",
    }
    return StreamingResponse(download.chunks, media_type=media_type, headers=headers)


def _quoted_name(path: str) -> str:
    return quote(path.rsplit("/", 1)[-1], safe="")
