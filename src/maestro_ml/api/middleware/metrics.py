"""Request metrics and the access log, as one pure ASGI middleware.

Per request: the in-flight gauge, a counter child and a histogram child looked up once per
(route template, method[, status class]) and cached, and one access-log line. Nothing else
is allocated on the hot path. With metrics disabled only the access log remains.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maestro_ml.observability.metrics import PlatformMetrics

from .route_names import route_template

access_log = logging.getLogger("maestro_ml.access")
STATUS_CLASSES = {n: f"{n}xx" for n in range(1, 6)}


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: PlatformMetrics | None) -> None:
        self.app = app
        self.metrics = metrics
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics = self.metrics
        start = time.perf_counter()
        status = 500
        if metrics is not None:
            metrics.http_in_flight.inc()

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            elapsed = time.perf_counter() - start
            template = route_template(scope)
            method = scope["method"]
            if metrics is not None:
                metrics.http_in_flight.dec()
                self._record(metrics, template, method, status, elapsed)
            if access_log.isEnabledFor(logging.INFO):
                _log_access(scope, template, method, status, elapsed)

    def _record(self, metrics: PlatformMetrics, template: str, method: str, status: int,
                elapsed: float) -> None:
        key = (template, method, status // 100)
        counter = self._counters.get(key)
        if counter is None:
            status_class = STATUS_CLASSES.get(key[2], "5xx")
            counter = self._counters[key] = metrics.http_requests.labels(
                template, method, status_class)
        counter.inc()
        histogram = self._histograms.get(key[:2])
        if histogram is None:
            histogram = self._histograms[key[:2]] = metrics.http_duration.labels(
                template, method)
        histogram.observe(elapsed)


def _log_access(scope: Scope, template: str, method: str, status: int, elapsed: float) -> None:
    client = scope.get("client")
    duration_ms = round(elapsed * 1000, 3)
    access_log.info(
        "%s %s %d %.1fms", method, scope.get("path", ""), status, duration_ms,
        extra={"route": template, "method": method, "path": scope.get("path", ""),
               "status": status, "duration_ms": duration_ms,
               "client": client[0] if client else None},
    )
