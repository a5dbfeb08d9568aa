"""MLflow REST: the artifact proxy (``/api/2.0/mlflow-artifacts/artifacts``).

Clients upload (PUT, streamed), download (GET, streamed), list and delete through Maestro
with the paths of the ``mlflow-artifacts:/`` URIs it handed out; ``artifact_paths.resolve``
maps each onto the caller's tenant store. A run's files go through the run artifact
service, so they are recorded (size, sha256) and listed by the native API as well.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from maestro_ml.api.deps import ContainerDep
from maestro_ml.auth.principal import Principal

from . import messages
from .artifact_paths import resolve
from .common import MlflowBody, mlflow_require

router = APIRouter(tags=["mlflow"])

PREFIX = "/api/2.0/mlflow-artifacts/artifacts"

Reader = Annotated[Principal, mlflow_require("artifacts:read")]
Writer = Annotated[Principal, mlflow_require("artifacts:write")]


@router.put(f"{PREFIX}/{{path:path}}")
async def upload_artifact(
    path: str, request: Request, container: ContainerDep, principal: Writer
) -> Response:
    location = resolve(path)
    service = container.run_artifacts
    if location.run_id is not None and location.run_path:
        await service.upload_artifact(principal, location.run_id, location.run_path,
                                      request.stream())
    else:
        await service.upload_object(principal, location.key, request.stream())
    return messages.respond()


@router.get(f"{PREFIX}/{{path:path}}")
def download_artifact(path: str, container: ContainerDep, principal: Reader) -> Response:
    location = resolve(path)
    service = container.run_artifacts
    if location.run_id is not None and location.run_path:
        download = service.open_artifact(principal, location.run_id, location.run_path)
        headers = {"Content-Length": str(download.size_bytes)}
        chunks: Any = download.chunks
    else:
        chunks, headers = service.open_object(principal, location.key), {}
    return StreamingResponse(chunks, media_type="application/octet-stream", headers=headers)


@router.delete(f"{PREFIX}/{{path:path}}")
def delete_artifact(path: str, container: ContainerDep, principal: Writer) -> Response:
    location = resolve(path)
    service = container.run_artifacts
    if location.run_id is not None:
        service.delete_artifacts(principal, location.run_id, location.run_path)
    else:
        service.delete_object(principal, location.key)
    return messages.respond()


@router.get(PREFIX)
async def list_artifacts(body: MlflowBody, container: ContainerDep, principal: Reader) -> Response:
    location = resolve(body.string("path") or "")
    service = container.run_artifacts
    if location.run_id is not None:
        entries = await run_in_threadpool(
            service.list_directory, principal, location.run_id, location.run_path
        )
    else:
        entries = await run_in_threadpool(service.list_objects, principal, location.key)
    files = []
    for entry in entries:
        item: dict[str, Any] = {"path": entry.name, "is_dir": entry.is_dir}
        if entry.size_bytes is not None:
            item["file_size"] = entry.size_bytes
        files.append(item)
    return messages.respond({"files": files})
