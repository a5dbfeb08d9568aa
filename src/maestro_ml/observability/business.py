"""Business gauges (models, versions, experiments, runs, deployments, jobs by state, queue
depth), computed at scrape from the database and cached for a few seconds so a tight scrape
interval or several scrapers cost one round of count queries per window."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger("maestro_ml.metrics")

JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
SIMPLE_GAUGES = (
    ("maestro_registered_models", "registered_models", "Registered models, all tenants"),
    ("maestro_model_versions", "model_versions", "Model versions, all tenants"),
    ("maestro_experiments", "experiments", "Experiments, all tenants"),
    ("maestro_runs", "runs", "Runs, all tenants"),
    ("maestro_deployments", "deployments", "Deployments, all tenants"),
)


class BusinessCollector:
    """A prometheus-client collector over ``read_counts()`` (a ``PlatformCounts``)."""

    def __init__(self, read_counts: Callable[[], Any], cache_seconds: float = 5.0) -> None:
        self._read = read_counts
        self._ttl = cache_seconds
        self._lock = threading.Lock()
        self._cached: tuple[float, Any] | None = None

    def invalidate(self) -> None:
        self._cached = None

    def counts(self) -> Any:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] >= self._ttl:
                self._cached = (now, self._read())
            return self._cached[1]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            counts = self.counts()
        except Exception:  # a dead database must not break the scrape of everything else
            log.warning("business gauges unavailable: the database did not answer",
                        exc_info=True)
            return
        for name, attribute, help_text in SIMPLE_GAUGES:
            yield GaugeMetricFamily(name, help_text, value=getattr(counts, attribute))
        jobs = GaugeMetricFamily("maestro_jobs", "Jobs by state, all tenants", labels=["state"])
        states = dict.fromkeys(JOB_STATES, 0) | counts.jobs_by_state
        for state, number in sorted(states.items()):
            jobs.add_metric([state], number)
        yield jobs
        yield GaugeMetricFamily("maestro_job_queue_depth", "Jobs waiting for a worker",
                                value=states.get("queued", 0))
