"""The Open Inference Protocol v2 over HTTP (KServe / Triton): health, metadata, infer.

A model is a deployment (by name or id); its versions are the model version numbers the
deployment serves. Authentication is the same bearer API key or token as the native API.
Errors answer ``{"error": "..."}`` with the status of the underlying Maestro error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from maestro_ml.api.deps import ContainerDep, require
from maestro_ml.api.routes.predict import call_predict
from maestro_ml.auth.principal import Principal
from maestro_ml.domain.errors import NotFound

from .tensors import (
    DATATYPE_OF_COLUMN,
    HEADER_LENGTH,
    InferRequest,
    output_tensors,
    parse_infer_request,
    render_infer_response,
    rows_from_tensors,
)

if TYPE_CHECKING:
    from maestro_ml.services.predictions import Prediction, PredictionService
    from maestro_ml.serving.route_table import Route, RouteVariant

SERVER_NAME = "maestro-ml"
EXTENSIONS = ["binary_tensor_data"]

router = APIRouter(prefix="/v2", tags=["inference-v2"])
Reader = Annotated[Principal, require("predictions:read")]
Predictor = Annotated[Principal, require("predictions:create")]


@router.get("")
def server_metadata(request: Request, principal: Reader) -> dict[str, Any]:
    return {"name": SERVER_NAME, "version": request.app.version, "extensions": EXTENSIONS}


@router.get("/health/live")
def server_live(principal: Reader) -> dict[str, bool]:
    return {"live": True}


@router.get("/health/ready")
def server_ready(container: ContainerDep, principal: Reader) -> JSONResponse:
    ready = all(check["ok"] for check in container.readiness_checks().values())
    return JSONResponse({"ready": ready}, status_code=200 if ready else 503)


@router.get("/models/{id_or_name}")
def model_metadata(id_or_name: str, container: ContainerDep, principal: Reader) -> dict[str, Any]:
    return _metadata(container.predictions, principal, id_or_name, None)


@router.get("/models/{id_or_name}/versions/{version}")
def model_version_metadata(
    id_or_name: str, version: int, container: ContainerDep, principal: Reader
) -> dict[str, Any]:
    return _metadata(container.predictions, principal, id_or_name, version)


@router.get("/models/{id_or_name}/ready")
def model_ready(id_or_name: str, container: ContainerDep, principal: Reader) -> dict[str, Any]:
    return _ready(container.predictions, principal, id_or_name, None)


@router.get("/models/{id_or_name}/versions/{version}/ready")
def model_version_ready(
    id_or_name: str, version: int, container: ContainerDep, principal: Reader
) -> dict[str, Any]:
    return _ready(container.predictions, principal, id_or_name, version)


@router.post("/models/{id_or_name}/infer")
async def infer(
    id_or_name: str, request: Request, container: ContainerDep, principal: Predictor
) -> Response:
    return await _infer(id_or_name, None, request, container, principal)


@router.post("/models/{id_or_name}/versions/{version}/infer")
async def infer_version(
    id_or_name: str, version: int, request: Request, container: ContainerDep, principal: Predictor
) -> Response:
    return await _infer(id_or_name, version, request, container, principal)


async def _infer(
    name: str, version: int | None, request: Request, container: ContainerDep,
    principal: Principal,
) -> Response:
    body = await request.body()
    infer_request, result = await call_predict(
        container, _predict_body, principal, name, container.predictions, body,
        request.headers.get(HEADER_LENGTH), version,
    )
    outputs = output_tensors(result.predictions, result.probabilities)
    content, header_length = render_infer_response(
        result.deployment, result.model_version, infer_request, outputs
    )
    if header_length is None:
        return Response(content, media_type="application/json")
    return Response(content, media_type="application/octet-stream",
                    headers={"Inference-Header-Content-Length": str(header_length)})


def _predict_body(
    principal: Principal, name: str, service: PredictionService, body: bytes,
    header_length: str | None, version: int | None,
) -> tuple[InferRequest, Prediction]:
    # The model (and version) first: another tenant's name is 404 whatever the body holds.
    service.route(principal.tenant_id, name)
    _check_version(service, principal, name, version)
    request = parse_infer_request(body, header_length)
    rows = rows_from_tensors(request.inputs, _feature_names(service, principal, name))
    return request, service.predict_rows(principal, name, rows, version=version)


def _check_version(
    service: PredictionService, principal: Principal, name: str, version: int | None
) -> None:
    if version is not None and version not in _versions(service, principal, name):
        raise NotFound(f"model '{name}' has no version {version} being served")


def _versions(service: PredictionService, principal: Principal, name: str) -> list[int]:
    """The model version numbers the deployment's serving variants answer with."""
    route = service.route(principal.tenant_id, name)
    return sorted({variant.version for variant in route.variants} or {route.version})


def _feature_names(service: PredictionService, principal: Principal, name: str) -> list[str]:
    route = service.route(principal.tenant_id, name)
    validator = _primary(route).validator if route.variants else route.validator
    if validator is not None:
        return [column.name for column in validator.columns]
    return list(service.model_for(route).feature_names)


def _primary(route: Route) -> RouteVariant:
    return next((v for v in route.variants if v.role == "primary"), route.variants[-1])


def _metadata(
    service: PredictionService, principal: Principal, name: str, version: int | None
) -> dict[str, Any]:
    _check_version(service, principal, name, version)
    route = service.route(principal.tenant_id, name)
    model = service.model_for(route)
    validator = _primary(route).validator if route.variants else route.validator
    if validator is not None:
        inputs = [{"name": c.name, "datatype": DATATYPE_OF_COLUMN[c.type], "shape": [-1]}
                  for c in validator.columns]
    else:
        inputs = [{"name": f, "datatype": "FP64", "shape": [-1]} for f in model.feature_names]
    classes = model.classes
    outputs: list[dict[str, Any]] = [{
        "name": "predictions", "shape": [-1],
        "datatype": output_tensors(list(classes), None)[0][1] if classes else "FP64",
    }]
    if classes:
        outputs.append({"name": "probabilities", "datatype": "FP64",
                        "shape": [-1, len(classes)]})
    return {
        "name": route.deployment_name,
        "versions": [str(v) for v in _versions(service, principal, name)],
        "platform": _platform(model),
        "inputs": inputs,
        "outputs": outputs,
    }


def _platform(model: Any) -> str:
    if getattr(model, "runtime", None) == "onnxruntime":  # compiled (serving.onnx_runtime)
        return "onnxruntime_onnx"
    return f"maestro_{model.metadata.get('framework', 'unknown')}"


def _ready(
    service: PredictionService, principal: Principal, name: str, version: int | None
) -> dict[str, Any]:
    _check_version(service, principal, name, version)
    service.model_for(service.route(principal.tenant_id, name))  # loads it if it is not
    return {"name": name, "ready": True}
