"""The prediction data plane: ``POST /api/v1/deployments/{id_or_name}/predict``.

The handler is ``async`` and reads the body itself (orjson, no pydantic model: the payload
shapes are checked by ``domain.payloads`` and the values by the model's signature). The rest
— parsing, route lookup, validation, the model call, writing the answer with orjson — runs
in one worker thread, so a slow model or a big batch never blocks the event loop.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
import orjson
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from maestro_ml.auth.principal import Principal
from maestro_ml.domain.errors import InvalidInput
from maestro_ml.services.predictions import PredictionService

from ..deps import ContainerDep, require
from ..schemas.deployments import PREDICT_REQUEST_SCHEMA, PredictionRead

router = APIRouter(prefix="/api/v1/deployments", tags=["predictions"])


@router.post(
    "/{id_or_name}/predict",
    responses={200: {"model": PredictionRead, "description": "predictions"}},
    openapi_extra={"requestBody": {
        "required": True,
        "content": {"application/json": {"schema": PREDICT_REQUEST_SCHEMA}},
    }},
)
async def predict(
    id_or_name: str, request: Request, container: ContainerDep,
    principal: Annotated[Principal, require("predictions:create")],
) -> Response:
    raw = await request.body()
    content = await run_in_threadpool(
        _predict, container.predictions, principal, id_or_name, raw
    )
    return Response(content, media_type="application/json")


def _predict(
    service: PredictionService, principal: Principal, id_or_name: str, raw: bytes
) -> bytes:
    # Parsing, the model and serialising are all CPU work: one trip to a worker thread.
    result = service.predict(principal, id_or_name, _parse_json(raw))
    body = {
        "deployment": result.deployment,
        "model_version": result.model_version,
        "predictions": result.predictions,
        "probabilities": result.probabilities,
        "classes": result.classes,
    }
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY, default=_plain)


def _parse_json(raw: bytes) -> Any:
    if not raw:
        raise InvalidInput('the request body is empty: send JSON such as {"features": {...}}')
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the request body is not valid JSON: {exc}") from None


def _plain(value: Any) -> Any:
    # Labels may be numpy scalars of kinds orjson does not know (e.g. numpy.str_).
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot serialise {type(value).__name__}")
