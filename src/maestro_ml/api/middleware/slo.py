"""Pure-ASGI middleware that counts each request towards its SLO target.

``/api/v1`` requests count towards the "api" target, except the prediction routes
(``POST /api/v1/deployments/{id_or_name}/predict`` and ``POST /v2/models/{name}/infer``),
which count towards their deployment in the caller's tenant. A request is *bad* for
availability when the server answered 5xx (or failed before answering): 4xx, 429 included,
are the client's doing and spend no budget. Everything else (health probes, /metrics, the
MLflow compatibility API, the UI) is not counted.

Cost: a prefix test on the path, two clock reads and a locked counter increment.
"""

from __future__ import annotations

import time
from typing import Any

from maestro_ml.observability.slo_recorder import API, SloRecorder, Target

Scope = dict[str, Any]

_PREDICT_PREFIX = "/api/v1/deployments/"
_PREDICT_SUFFIX = "/predict"
_V2_PREFIX = "/v2/models/"


def target_of(method: str, path: str) -> str | None:
    """"api", the deployment's id or name from a prediction path, or None (not counted)."""
    if method == "POST":
        if path.startswith(_PREDICT_PREFIX) and path.endswith(_PREDICT_SUFFIX):
            ident = path[len(_PREDICT_PREFIX):-len(_PREDICT_SUFFIX)]
            return "/" + ident if ident and "/" not in ident else API
        if path.startswith(_V2_PREFIX) and path.endswith("/infer"):
            ident = path[len(_V2_PREFIX):].split("/", 1)[0]
            return "/" + ident if ident else None
    if path.startswith("/api/v1/") or path == "/api/v1":
        return API
    return None


class SloMiddleware:
    def __init__(self, app: Any, recorder: SloRecorder) -> None:
        self.app = app
        self.recorder = recorder

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = target_of(scope["method"], scope["path"])
        if found is None:
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})  # shared with the app, which stores the principal there
        status = 500
        started = time.perf_counter()

        async def send_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            target = _resolve(scope, found, status)
            if target is not None:
                self.recorder.record(target, status, time.perf_counter() - started)


def _resolve(scope: Scope, found: str, status: int) -> Target | None:
    if found == API:
        return API
    # The deployment belongs to the caller's tenant, known once authentication has run; a
    # prediction refused before that (no or bad credentials) is not the deployment's, and
    # a 404 names no deployment (nor should made-up names cost a lookup at flush time).
    principal = scope.get("state", {}).get("principal")
    if principal is None or status == 404:
        return None
    return (principal.tenant_id, found[1:])
