"""The platform's Prometheus metrics and the hooks the rest of the code calls to feed them.

Hooks are plain functions so callers (serving, services, jobs) never touch metric objects.
Until ``install_metrics`` runs (or after ``uninstall_metrics``) every hook returns at once,
so unit tests and a metrics-off server pay one global read per call.

Label children are cached in plain dicts keyed by their label tuple: ``labels()`` takes a
lock and validates on every call, the hot path should not. Label values are bounded by
construction (route templates, deployment and variant names, fixed outcome words).

Multiprocess (``maestro server --workers N``): the CLI points ``PROMETHEUS_MULTIPROC_DIR``
at a fresh directory before the workers start; prometheus-client then keeps every value in
a per-process file, gauges aggregate by their ``multiprocess_mode`` and ``render`` reads
them through a ``MultiProcessCollector``. Collectors computed at scrape (business gauges,
SLOs) are registered through ``register_collector`` and run once per scrape, in the
scraping process only.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.openmetrics import exposition as openmetrics

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Bucket edges include every SLO latency threshold (5 ms ... 2.5 s) a dashboard may ask about.
DEFAULT_LATENCY_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)
BATCH_ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384)
DB_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
TRAINING_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600)
TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class PlatformMetrics:
    """Every metric family the process feeds, on one registry."""

    def __init__(
        self, latency_buckets: Sequence[float] = DEFAULT_LATENCY_BUCKETS,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        self.collectors: list[Any] = []
        self._replaced: list[Any] = []  # collectors of closed-over containers, latest last
        self.latency_buckets = buckets = tuple(sorted(set(latency_buckets)))
        reg = self.registry
        self.http_requests = Counter(
            "maestro_http_requests", "HTTP requests answered",
            ["route", "method", "status_class"], registry=reg,
        )
        self.http_duration = Histogram(
            "maestro_http_request_duration_seconds", "HTTP request latency",
            ["route", "method"], buckets=buckets, registry=reg,
        )
        self.http_in_flight = Gauge(
            "maestro_http_requests_in_flight", "HTTP requests being answered now",
            registry=reg, multiprocess_mode="livesum",
        )
        self.predictions = Counter(
            "maestro_predictions", "Prediction requests served",
            ["deployment", "variant", "outcome"], registry=reg,
        )
        self.prediction_rows = Counter(
            "maestro_prediction_rows", "Rows predicted", ["deployment", "variant"], registry=reg,
        )
        self.prediction_duration = Histogram(
            "maestro_prediction_duration_seconds", "Prediction latency per request",
            ["deployment", "variant"], buckets=buckets, registry=reg,
        )
        self.batch_rows = Histogram(
            "maestro_prediction_batch_rows", "Rows per model call of the micro-batcher",
            buckets=BATCH_ROW_BUCKETS, registry=reg,
        )
        self.cache_events = Counter(
            "maestro_model_cache_events", "Model cache hits, misses and evictions",
            ["event"], registry=reg,
        )
        self.cache_bytes = Gauge(
            "maestro_model_cache_loaded_bytes", "Approximate bytes of the cached models",
            registry=reg, multiprocess_mode="livesum",
        )
        self.shadow = Counter(
            "maestro_shadow_comparisons", "Shadow answers compared with the primary's",
            ["deployment", "variant", "agreed"], registry=reg,
        )
        self.shadow_delta = Histogram(
            "maestro_shadow_latency_delta_seconds", "Shadow latency minus primary latency",
            ["deployment", "variant"],
            buckets=(-1.0, -0.1, -0.01, -0.001, 0.0, 0.001, 0.01, 0.1, 1.0), registry=reg,
        )
        self.training_duration = Histogram(
            "maestro_training_duration_seconds", "Wall time of finished training jobs",
            ["outcome"], buckets=TRAINING_BUCKETS, registry=reg,
        )
        self._init_infra(reg)
        self._children: dict[tuple[Any, ...], Any] = {}

    def _init_infra(self, reg: CollectorRegistry) -> None:
        self.db_in_use = Gauge(
            "maestro_db_pool_connections_in_use", "Database connections checked out",
            registry=reg, multiprocess_mode="livesum",
        )
        self.db_overflow = Gauge(
            "maestro_db_pool_overflow", "Connections open beyond the pool size",
            registry=reg, multiprocess_mode="livesum",
        )
        self.db_wait = Histogram(
            "maestro_db_pool_wait_seconds", "Time waiting for a pooled connection",
            buckets=DB_BUCKETS, registry=reg,
        )
        self.db_query = Histogram(
            "maestro_db_query_duration_seconds", "Database statement latency",
            buckets=DB_BUCKETS, registry=reg,
        )
        self.redis_errors = Counter(
            "maestro_redis_errors", "Redis calls that failed", ["component"], registry=reg,
        )
        self.rate_limit_rejections = Counter(
            "maestro_rate_limit_rejections", "Requests refused by a rate limit", ["tier"],
            registry=reg,
        )
        self.audit_events = Counter(
            "maestro_audit_events", "Audit events written", ["outcome"], registry=reg,
        )

    def child(self, metric: Any, *labels: str) -> Any:
        """The labelled child of ``metric``, created once per label tuple."""
        key = (id(metric), *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def register_collector(self, collector: Any) -> None:
        """Add ``collector`` in place of an earlier one of the same class (a rebuilt
        container); that one is served again when this one is unregistered."""
        for earlier in [c for c in self.collectors if type(c) is type(collector)]:
            self.registry.unregister(earlier)
            self.collectors.remove(earlier)
            self._replaced.append(earlier)
        self.registry.register(collector)
        self.collectors.append(collector)

    def unregister_collector(self, collector: Any) -> None:
        """Stop serving ``collector`` (its container closed); bring back what it replaced."""
        if collector in self._replaced:
            self._replaced.remove(collector)
        if collector not in self.collectors:
            return
        self.registry.unregister(collector)
        self.collectors.remove(collector)
        for earlier in reversed(self._replaced):
            if type(earlier) is type(collector):
                self._replaced.remove(earlier)
                self.registry.register(earlier)
                self.collectors.append(earlier)
                return

    def scrape_registry(self) -> CollectorRegistry:
        """Single process: our registry. Multiprocess: the files of every live process."""
        if not self.multiprocess:
            return self.registry
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(_ScrapeTimeCollectors(self))
        return registry


class _ScrapeTimeCollectors:
    """The collectors registered so far, read at each scrape (later ones included)."""

    def __init__(self, metrics: PlatformMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Any]:
        for collector in list(self._metrics.collectors):
            yield from collector.collect()


_active: PlatformMetrics | None = None
_built: dict[tuple[float, ...], PlatformMetrics] = {}


def install_metrics(latency_buckets: Sequence[float] = DEFAULT_LATENCY_BUCKETS) -> PlatformMetrics:
    """Make metrics live in this process. The same bucket edges give the same metrics back,
    also after ``uninstall_metrics``: counts only ever grow, as Prometheus expects."""
    global _active
    wanted = tuple(sorted(set(latency_buckets)))
    if wanted not in _built:
        disable_created_metrics()  # the *_created series only double the scrape
        _built[wanted] = PlatformMetrics(wanted)
    _active = _built[wanted]
    return _active


def uninstall_metrics() -> None:
    """Switch every hook back to a no-op (metrics disabled)."""
    global _active
    _active = None


def active_metrics() -> PlatformMetrics | None:
    return _active


def register_collector(collector: Any) -> None:
    """Add a collector computed at scrape (business gauges, SLO gauges) to the live registry.

    The collector's ``collect()`` yields metric families (``prometheus_client.core``
    ``GaugeMetricFamily`` ...); it runs once per scrape, in the scraping process, also under
    multiprocess. A later collector of the same class replaces the earlier one. Without
    live metrics the call does nothing.
    """
    if _active is not None:
        _active.register_collector(collector)


def unregister_collector(collector: Any) -> None:
    """Stop serving ``collector`` wherever it was registered; the collector of its class
    it replaced, if any, is served again."""
    for built in _built.values():
        built.unregister_collector(collector)


def render(accept: str | None) -> tuple[bytes, str]:
    """The exposition body and its content type: OpenMetrics when the client asks for it."""
    registry = _active.scrape_registry() if _active is not None else CollectorRegistry()
    if accept and "application/openmetrics-text" in accept:
        return openmetrics.generate_latest(registry), openmetrics.CONTENT_TYPE_LATEST
    return generate_latest(registry), TEXT_CONTENT_TYPE


def mark_process_dead(pid: int) -> None:
    """Multiprocess: drop a finished worker's live gauges from the aggregate."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


# -- hooks --------------------------------------------------------------------------------

def observe_prediction(
    deployment: str, variant: str, seconds: float, rows: int, outcome: str
) -> None:
    """One prediction request served by ``variant`` of ``deployment``; outcome 'ok' or 'error'."""
    m = _active
    if m is None:
        return
    m.child(m.predictions, deployment, variant, outcome).inc()
    m.child(m.prediction_duration, deployment, variant).observe(seconds)
    if rows:
        m.child(m.prediction_rows, deployment, variant).inc(rows)


def observe_batch_size(size: int) -> None:
    """Rows in one model call of the micro-batcher."""
    m = _active
    if m is not None:
        m.batch_rows.observe(size)


def observe_shadow(
    deployment: str, variant: str, agreed: bool, latency_delta_seconds: float
) -> None:
    """A shadow variant's answer compared with the primary's."""
    m = _active
    if m is None:
        return
    m.child(m.shadow, deployment, variant, "true" if agreed else "false").inc()
    m.child(m.shadow_delta, deployment, variant).observe(latency_delta_seconds)


def observe_model_cache(event: str) -> None:
    """A model-cache 'hit', 'miss' or 'eviction'."""
    m = _active
    if m is not None:
        m.child(m.cache_events, event).inc()


def set_model_cache_bytes(loaded_bytes: int) -> None:
    """Approximate bytes of the models held in this process's cache."""
    m = _active
    if m is not None:
        m.cache_bytes.set(loaded_bytes)


def observe_training(seconds: float, outcome: str) -> None:
    """A training job finished ('succeeded', 'failed' or 'cancelled') after ``seconds``."""
    m = _active
    if m is not None:
        m.child(m.training_duration, outcome).observe(seconds)


def observe_redis_error(component: str) -> None:
    """A Redis call of ``component`` ('rate_limit', 'cache' ...) failed."""
    m = _active
    if m is not None:
        m.child(m.redis_errors, component).inc()


def observe_rate_limit_rejection(tier: str) -> None:
    """A request refused by a rate-limit rule of ``tier``."""
    m = _active
    if m is not None:
        m.child(m.rate_limit_rejections, tier).inc()


def declare_rate_limit_tiers(tiers: Iterable[str]) -> None:
    """Export the rejection counter of each tier at zero, before any request is refused,
    so that alerts over ``rate()`` and dashboards see the series from the start."""
    m = _active
    if m is not None:
        for tier in tiers:
            m.child(m.rate_limit_rejections, tier)


def observe_audit_event(outcome: str) -> None:
    """An audit event written ('success', 'denied', 'error')."""
    m = _active
    if m is not None:
        m.child(m.audit_events, outcome).inc()
