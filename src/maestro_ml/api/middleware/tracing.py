"""W3C trace context and the log context of every request; the server span when tracing.

A ``traceparent`` request header continues the caller's trace; without one the request
starts a new trace. Every response carries ``traceparent`` naming this request's span, so a
client can quote it in a bug report and find the logs. With tracing off no span object is
made (see ``observability.tracing``); with it on, the server span is named by the route
template (``GET /api/v1/runs/{run_id}``) once routing has chosen a route.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maestro_ml.observability import logging as log_context
from maestro_ml.observability import tracing

from .route_names import route_template


class TracingMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"traceparent")
        live = tracing.tracer()
        # Log lines of this request read its state (request id, principal) as it fills in.
        log_token = log_context.bind_context({"state": scope.setdefault("state", {})})
        try:
            if live is None:
                await self._untraced(scope, receive, send, incoming)
            else:
                await self._traced(live, scope, receive, send, incoming)
        finally:
            log_context.reset_context(log_token)

    async def _untraced(self, scope: Scope, receive: Receive, send: Send, incoming: str | None
                        ) -> None:
        ids = tracing.new_ids(tracing.parse_traceparent(incoming))
        token = tracing.set_ids(ids)
        header = (b"traceparent", ids.traceparent.encode())

        async def send_with_trace(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_trace)
        finally:
            tracing.reset_ids(token)

    async def _traced(self, live: trace.Tracer, scope: Scope, receive: Receive, send: Send,
                      incoming: str | None) -> None:
        method = scope["method"]
        span = live.start_span(
            method, context=tracing.extract_context(incoming), kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": scope.get("path", "")},
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        ctx = span.get_span_context()
        header = (b"traceparent", f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-"
                                  f"{int(ctx.trace_flags):02x}".encode())
        status: dict[str, Any] = {"code": 500}

        async def send_with_trace(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_trace)
        except Exception as exc:
            span.record_exception(exc)
            raise
        finally:
            template = route_template(scope)
            span.update_name(f"{method} {template}")
            span.set_attribute("http.route", template)
            span.set_attribute("http.response.status_code", status["code"])
            if status["code"] >= 500:
                span.set_status(trace.StatusCode.ERROR)
            span.end()
            otel_context.detach(token)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None
