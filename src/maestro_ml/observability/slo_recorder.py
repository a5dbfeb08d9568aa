"""In-memory per-minute request counters behind the SLOs, drained to the database.

The request path only adds to three integers of the current minute (total, bad, slow) under
a lock; a background flusher drains the counters every few seconds into minute buckets in
the database, so SLOs are computed over every replica's requests and survive restarts.

Targets are ``API`` (the REST API) or ``(tenant_id, id_or_name)`` of a deployment as the
caller named it; the flusher resolves names to deployment ids.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

API = "api"

DeploymentKey = tuple[str, str]
"""(tenant_id, the deployment id or name from the request path)."""
Target = str | DeploymentKey


@dataclass(slots=True)
class MinuteCounts:
    total: int = 0
    bad: int = 0
    slow: int = 0

    def add(self, other: MinuteCounts) -> None:
        self.total += other.total
        self.bad += other.bad
        self.slow += other.slow


Drained = dict[tuple[Target, int], MinuteCounts]


class SloRecorder:
    """Thread-safe ``(target, epoch minute) -> counts``, with per-target latency thresholds."""

    def __init__(
        self,
        api_threshold_seconds: float,
        deployment_threshold_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api_threshold_seconds = api_threshold_seconds
        self.deployment_threshold_seconds = deployment_threshold_seconds
        self.clock = clock
        self._thresholds: dict[DeploymentKey, float] = {}
        self._counts: Drained = {}
        self._lock = threading.Lock()

    def threshold_for(self, target: Target) -> float:
        if target == API:
            return self.api_threshold_seconds
        return self._thresholds.get(target, self.deployment_threshold_seconds)  # type: ignore[arg-type]

    def set_thresholds(self, thresholds: dict[DeploymentKey, float]) -> None:
        """Per-deployment overrides, keyed by (tenant, id) and (tenant, name)."""
        self._thresholds = thresholds

    def record(self, target: Target, status: int, seconds: float) -> None:
        """One finished request: bad when the server failed (5xx), slow above the threshold."""
        key = (target, int(self.clock() // 60))
        bad = status >= 500
        slow = seconds > self.threshold_for(target)
        with self._lock:
            counts = self._counts.get(key)
            if counts is None:
                counts = self._counts[key] = MinuteCounts()
            counts.total += 1
            counts.bad += bad
            counts.slow += slow

    def add(self, target: Target, minute: int, counts: MinuteCounts) -> None:
        """Add counts for a minute directly (restoring a failed flush, or synthetic load)."""
        with self._lock:
            self._counts.setdefault((target, minute), MinuteCounts()).add(counts)

    def drain(self) -> Drained:
        """Everything counted since the last drain; the counters start again from zero."""
        with self._lock:
            drained, self._counts = self._counts, {}
        return drained

    def restore(self, drained: Drained) -> None:
        """Put back counts whose flush failed, so a database outage loses nothing."""
        for (target, minute), counts in drained.items():
            self.add(target, minute, counts)

    @property
    def pending(self) -> int:
        return len(self._counts)
