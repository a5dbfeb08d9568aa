"""Liveness and readiness probes (no authentication: load balancers call them)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    checks = request.app.state.container.readiness_checks()
    ready = all(c["ok"] for c in checks.values())
    headers = {} if ready else {"Retry-After": "5"}
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503, headers=headers)
