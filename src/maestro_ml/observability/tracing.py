"""OpenTelemetry tracing, off by default, and the trace ids every log line carries.

Two modes, chosen once per process by ``configure_tracing``:

- **off** (no exporter; the default): no span objects are created at all. A request still
  gets a W3C trace id — the caller's when a ``traceparent`` arrives, else a random one — so
  logs, the ``traceparent`` response header and jobs can be correlated. Cost: one
  ``getrandbits`` and a context variable per request.
- **on** (``MAESTRO_TRACING_EXPORTER`` / ``OTEL_TRACES_EXPORTER`` = ``otlp`` or ``console``):
  an SDK ``TracerProvider`` (sampler and resource from the standard ``OTEL_*`` variables)
  records a server span per request, service, artifact-store, inference and database spans,
  exported in batches.

The provider is this module's, not the OpenTelemetry global, so tests and the benchmark can
switch it without process-wide side effects.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider, sampling
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

SERVICE_NAME = "maestro-ml"
PROPAGATOR = TraceContextTextMapPropagator()


@dataclass(frozen=True, slots=True)
class TraceIds:
    """The ids of the current unit of work when no span is recorded."""

    trace_id: str  # 32 lower-case hex digits
    span_id: str  # 16 lower-case hex digits
    sampled: bool = False

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"


_ids: ContextVar[TraceIds | None] = ContextVar("maestro_trace_ids", default=None)
_provider: TracerProvider | None = None
_tracer: trace.Tracer | None = None


def configure_tracing(
    exporter: str | SpanExporter | None, *, batch: bool = False
) -> TracerProvider | None:
    """Switch tracing on with ``exporter`` ('otlp', 'console' or an exporter object) or off.

    An exporter object gets spans synchronously (tests see them at once) unless ``batch``.
    """
    global _provider, _tracer
    if _provider is not None:
        _provider.shutdown()
    if exporter is None or exporter == "none":
        _provider = _tracer = None
        return None
    provider = TracerProvider(
        resource=Resource.create({"service.name": SERVICE_NAME}),
        sampler=NoOrphanClientSpans(_configured_sampler()),
    )
    provider.add_span_processor(_processor(exporter, batch))
    _provider, _tracer = provider, provider.get_tracer("maestro_ml")
    return provider


class NoOrphanClientSpans(Sampler):
    """Drop client spans (database statements) that belong to no trace.

    Background loops (job polling, lease heartbeats, record flushers) query the database
    every fraction of a second; as root spans they would drown the traces of real work.
    Everything else is decided by the configured sampler (``OTEL_TRACES_SAMPLER``).
    """

    def __init__(self, delegate: Sampler) -> None:
        self._delegate = delegate

    def should_sample(self, parent_context: Any, trace_id: int, name: str,
                      kind: trace.SpanKind | None = None, attributes: Any = None,
                      links: Any = None, trace_state: Any = None) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        if kind == trace.SpanKind.CLIENT and not parent.is_valid:
            return SamplingResult(Decision.DROP)
        return self._delegate.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"NoOrphanClientSpans({self._delegate.get_description()})"


def _configured_sampler() -> Sampler:
    try:  # the SDK's own reading of OTEL_TRACES_SAMPLER / _ARG
        return sampling._get_from_env_or_default()
    except Exception:  # an SDK without the helper: its documented default
        return sampling.ParentBased(sampling.ALWAYS_ON)


def _processor(exporter: str | SpanExporter, batch: bool) -> Any:
    if isinstance(exporter, SpanExporter) and batch:
        return BatchSpanProcessor(exporter)
    if isinstance(exporter, SpanExporter):
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor

        return SimpleSpanProcessor(exporter)  # tests: spans visible as soon as they end
    if exporter == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return BatchSpanProcessor(ConsoleSpanExporter())
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return BatchSpanProcessor(OTLPSpanExporter())  # endpoint/headers from OTEL_EXPORTER_OTLP_*


def use_provider(chosen: TracerProvider | None) -> None:
    """Switch to an already built provider (or none) without shutting the current one down."""
    global _provider, _tracer
    _provider = chosen
    _tracer = chosen.get_tracer("maestro_ml") if chosen is not None else None


def shutdown_tracing() -> None:
    """Flush and stop the exporter (process exit)."""
    configure_tracing(None)


def tracer() -> trace.Tracer | None:
    """The live tracer, or None when tracing is off."""
    return _tracer


def provider() -> TracerProvider | None:
    return _provider


# -- W3C trace context --------------------------------------------------------------------

def parse_traceparent(value: str | None) -> TraceIds | None:
    """A valid version-00 ``traceparent`` as ids, else None (an invalid one is ignored)."""
    if not value or len(value) < 55:
        return None
    parts = value.strip().split("-")
    if len(parts) < 4 or len(parts[0]) != 2 or parts[0] == "ff":
        return None
    trace_id, span_id, flags = parts[1].lower(), parts[2].lower(), parts[3]
    if len(trace_id) != 32 or len(span_id) != 16 or len(flags) != 2:
        return None
    try:
        if int(trace_id, 16) == 0 or int(span_id, 16) == 0:
            return None
        sampled = bool(int(flags, 16) & 1)
    except ValueError:
        return None
    return TraceIds(trace_id, span_id, sampled)


def new_ids(parent: TraceIds | None = None) -> TraceIds:
    """Ids for a new unit of work: a child of ``parent`` or the root of a new trace."""
    span_id = f"{random.getrandbits(64) or 1:016x}"
    if parent is not None:
        return TraceIds(parent.trace_id, span_id, parent.sampled)
    return TraceIds(f"{random.getrandbits(128) or 1:032x}", span_id)


def set_ids(ids: TraceIds | None) -> Any:
    """Make ``ids`` current for logs; returns the token ``reset_ids`` takes."""
    return _ids.set(ids)


def reset_ids(token: Any) -> None:
    _ids.reset(token)


def current_ids() -> TraceIds | None:
    """The ids of the current span when one is recorded, else of the current unit of work."""
    if _tracer is not None:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            return TraceIds(
                f"{context.trace_id:032x}", f"{context.span_id:016x}", context.trace_flags.sampled
            )
    return _ids.get()


def current_traceparent() -> str | None:
    """The ``traceparent`` to hand to work started from here (a job, an outgoing call)."""
    ids = current_ids()
    return ids.traceparent if ids is not None else None


# -- spans ------------------------------------------------------------------------------

@contextmanager
def span(name: str, attributes: Mapping[str, Any] | None = None) -> Iterator[Any]:
    """An internal span under the current one; nothing at all when tracing is off."""
    live = _tracer
    if live is None:
        yield None
        return
    with live.start_as_current_span(name, attributes=attributes) as current:
        yield current


@contextmanager
def continue_trace(traceparent: str | None, name: str, attributes: Mapping[str, Any] | None = None
                   ) -> Iterator[None]:
    """Run a detached unit of work (a job) as a child of the trace that started it."""
    parent = parse_traceparent(traceparent)
    token = set_ids(new_ids(parent))
    try:
        live = _tracer
        if live is None:
            yield
            return
        carrier = {"traceparent": traceparent} if parent is not None else {}
        ctx = PROPAGATOR.extract(carrier)
        with live.start_as_current_span(
            name, context=ctx, kind=trace.SpanKind.CONSUMER, attributes=attributes
        ):
            yield
    finally:
        reset_ids(token)


def extract_context(traceparent: str | None) -> otel_context.Context:
    """The OpenTelemetry context of an incoming ``traceparent`` (empty when absent/invalid)."""
    if not traceparent:
        return otel_context.Context()
    return PROPAGATOR.extract({"traceparent": traceparent})


def instrument_engine(engine: Any) -> None:
    """Database spans for ``engine`` (opentelemetry-instrumentation-sqlalchemy), when tracing."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import NoOpMeterProvider

    usage = NoOpMeterProvider().get_meter("maestro_ml").create_up_down_counter("db.connections")
    EngineTracer(_provider.get_tracer("maestro_ml.db"), engine, usage)
