"""``GET /metrics``: the Prometheus scrape of the whole platform.

It reports counts of every tenant (business gauges) and deployment names of every tenant
(prediction labels), so it needs ``system:metrics`` (platform admins; give the scraper an
API key of that role), or is served without authentication on ``MAESTRO_METRICS_PORT``
(bind that to a private interface). OpenMetrics when the ``Accept`` header asks for it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response

from maestro_ml.auth.principal import Principal
from maestro_ml.domain.errors import NotFound
from maestro_ml.observability.metrics import render

from ..deps import ContainerDep, require

router = APIRouter(tags=["observability"])


@router.get(
    "/metrics", response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus exposition"}},
)
def metrics(
    request: Request, container: ContainerDep,
    _: Annotated[Principal, require("system:metrics")],
) -> Response:
    if not container.settings.metrics_enabled:
        raise NotFound("metrics are switched off on this server (MAESTRO_METRICS_ENABLED)")
    body, content_type = render(request.headers.get("accept"))
    return Response(body, media_type=content_type)
