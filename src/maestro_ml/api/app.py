"""``create_app(container)``: the FastAPI application, built on demand, never at import."""

from __future__ import annotations

import inspect
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from maestro_ml.observability.metrics import active_metrics
from maestro_ml.observability.slo_metrics import install_slo_gauges
from maestro_ml.serving.heap import freeze_long_lived
from maestro_ml.storage.database import LoopWriter

from .direct_dispatch import install_direct_dispatch
from .errors import install_error_handlers
from .middleware.audit import AuditMiddleware
from .middleware.body_limit import BodyLimitMiddleware
from .middleware.json_limits import JsonLimitsMiddleware
from .middleware.metrics import MetricsMiddleware
from .middleware.rate_limit import RateLimitMiddleware
from .middleware.security_headers import install_security
from .middleware.slo import SloMiddleware
from .middleware.tracing import TracingMiddleware
from .routes import all_routers, error_formats

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from maestro_ml.bootstrap import Container

UPLOAD_PATH_MARKERS = ("/artifacts", "/datasets", "/mlflow-artifacts")


def create_app(container: Container) -> FastAPI:
    settings = container.settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container.start_background()
        freeze_long_lived()  # imports and start-up state: out of the collector's full passes
        try:
            yield
        finally:
            container.stop_background()

    app = FastAPI(
        title="Maestro ML",
        version="0.1.0",
        description="Self-hosted ML platform: tracking, training, registry, serving.",
        lifespan=lifespan,
        **_without_native_telemetry(),
    )
    app.state.container = container
    install_error_handlers(app, error_formats())

    def limit_for(path: str) -> int:
        if any(marker in path for marker in UPLOAD_PATH_MARKERS):
            return settings.max_upload_bytes
        if path.startswith("/api/v1/models/") and path.endswith("/versions"):
            return settings.max_upload_bytes  # model version uploads (POST, multipart)
        return settings.max_body_bytes

    # Inside the body limit, which bounds the JSON it buffers.
    app.add_middleware(
        JsonLimitsMiddleware, max_depth=settings.max_json_depth,
        max_string_bytes=settings.max_string_bytes,
    )
    app.add_middleware(BodyLimitMiddleware, limit_for=limit_for)
    # Outside the body limit: a throttled client is refused before its body is read.
    app.add_middleware(
        RateLimitMiddleware, limiter=container.rate_limiter,
        trusted_proxies=settings.trusted_proxies,
    )
    # Added after the limits so it wraps them: it sees (and records) their refusals too.
    app.add_middleware(
        AuditMiddleware, record=container.audit.submit, permission_of=route_permission
    )
    if settings.slo_enabled:  # SLO request records: wraps the limits and the audit
        app.add_middleware(SloMiddleware, recorder=container.slo_recorder)
    # Observability wraps everything but the security shell: every response is counted,
    # logged and carries its traceparent (tracing outermost, so access logs have the ids).
    metrics = active_metrics() if settings.metrics_enabled else None
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(TracingMiddleware)
    for router in all_routers():
        app.include_router(router)
    # Plain routes skip FastAPI's matching and dependency solving; short SQLite writes, the hop
    # to the worker pool when the database is free at once.
    install_direct_dispatch(app, LoopWriter(container.engine))
    install_security(app, settings)  # last: CORS, host check, then headers outermost
    # SLO and secret-expiry gauges on the live /metrics registry
    install_slo_gauges(container.slos.all_statuses, container.slos.earliest_api_key_expiry)
    return app


def _without_native_telemetry() -> dict[str, Any]:
    """FastAPI's own OpenTelemetry layer switched off, where this FastAPI has one.

    It turns itself on whenever a process-wide OpenTelemetry provider is set, and would
    then record every request a second time beside ``TracingMiddleware`` and
    ``MetricsMiddleware``, and until then looks the providers up on every request.
    """
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}


def api_routes(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    """Every (method, path, route) of the app's API routes, with included routers flattened."""
    try:  # FastAPI >= 0.160 keeps included routers lazily; this walks their effective routes
        from fastapi.routing import iter_route_contexts
    except ImportError:
        pairs = [(getattr(route, "path", ""), route) for route in app.routes]
    else:
        pairs = [(ctx.path or "", ctx.original_route) for ctx in iter_route_contexts(app.routes)]
    return [
        (method, path, route)
        for path, route in pairs
        if isinstance(route, APIRoute)
        for method in sorted(route.methods)
    ]


def route_permission(route: Any) -> str | None:
    """The permission a route declares through ``require``, or None."""
    dependant = getattr(route, "dependant", None)
    stack = list(dependant.dependencies) if dependant else []
    while stack:
        dep = stack.pop()
        permission = getattr(dep.call, "permission", None)
        if permission:
            return str(permission)
        stack.extend(dep.dependencies)
    return None
