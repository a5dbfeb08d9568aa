"""The prediction data plane: ``POST /api/v1/deployments/{id_or_name}/predict``.

The handler is ``async`` and reads the body itself (orjson, no pydantic model: the payload
shapes are checked by ``domain.payloads`` and the values by the model's signature). When
the deployment's route is cached — nearly always — the use case runs on the event loop
(``serving.loop_bridge``): parsing and validation are microseconds, and the model call goes
through the micro-batcher, which merges concurrent requests into one call in a worker
thread. A route miss needs the database, so that request runs in a worker thread instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import numpy as np
import orjson
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from maestro_ml.auth.principal import Principal
from maestro_ml.domain.errors import InvalidInput
from maestro_ml.serving.loop_bridge import run_on_loop

from ..deps import ContainerDep, require
from ..schemas.deployments import PREDICT_REQUEST_SCHEMA, PredictionRead

if TYPE_CHECKING:
    from maestro_ml.bootstrap import Container
    from maestro_ml.services.predictions import Prediction

T = TypeVar("T")

router = APIRouter(prefix="/api/v1/deployments", tags=["predictions"])
ROUTING_KEY_HEADER = "X-Routing-Key"
"""Requests with the same key reach the same variant of a deployment."""


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
    payload = parse_json(await request.body())
    result = await call_predict(
        container, container.predictions.predict, principal, id_or_name, payload,
        request.headers.get(ROUTING_KEY_HEADER),  # sticky variant choice
    )
    return Response(render_prediction(result), media_type="application/json")


async def call_predict(
    container: Container, method: Callable[..., T], principal: Principal, id_or_name: str,
    *args: Any,
) -> T:
    """``method(principal, id_or_name, *args)`` on the loop when the route is cached, else in
    a worker thread (a miss reads the database)."""
    if container.route_table.get(principal.tenant_id, id_or_name) is not None:
        return await run_on_loop(method, principal, id_or_name, *args)
    return await run_in_threadpool(method, principal, id_or_name, *args)


def render_prediction(result: Prediction) -> bytes:
    body = {
        "deployment": result.deployment,
        "model_version": result.model_version,
        "predictions": result.predictions,
        "probabilities": result.probabilities,
        "classes": result.classes,
        "prediction_id": result.prediction_id,
        "variant": result.variant,
    }
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY, default=_plain)


def parse_json(raw: bytes) -> Any:
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
