"""Per-variant request statistics kept in this process: counts, errors and recent latencies.

Keys are ``(revision_id, variant name)``: a new revision (a canary step, a rollback) starts
from zero, which is what a canary step needs — its verdict is about the traffic it saw.
Latencies are kept in a ring of the last ``window`` requests, enough for a p99.

Each replica counts only the requests it served; the canary evaluator of each replica
judges its own share (see ``services.rollouts``).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

import numpy as np

DEFAULT_WINDOW = 4096
MAX_KEYS = 10_000


@dataclass(frozen=True)
class VariantSnapshot:
    variant: str
    requests: int
    errors: int
    p50_ms: float | None
    p99_ms: float | None
    mean_ms: float | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


class _Counter:
    __slots__ = ("errors", "latencies", "requests")

    def __init__(self, window: int) -> None:
        self.requests = 0
        self.errors = 0
        self.latencies: deque[float] = deque(maxlen=window)


class VariantStats:
    """Thread-safe counters for every (revision, variant) that served in this process."""

    def __init__(self, window: int = DEFAULT_WINDOW) -> None:
        self._window = window
        self._counters: dict[tuple[str, str], _Counter] = {}
        self._lock = threading.Lock()

    def record(self, revision_id: str, variant: str, seconds: float, ok: bool) -> None:
        key = (revision_id, variant)
        with self._lock:
            counter = self._counters.get(key)
            if counter is None:
                if len(self._counters) >= MAX_KEYS:
                    self._counters.clear()
                counter = self._counters[key] = _Counter(self._window)
            counter.requests += 1
            if not ok:
                counter.errors += 1
            counter.latencies.append(seconds * 1000.0)

    def snapshot(self, revision_id: str, variant: str) -> VariantSnapshot:
        with self._lock:
            counter = self._counters.get((revision_id, variant))
            if counter is None:
                return VariantSnapshot(variant, 0, 0, None, None, None)
            requests, errors = counter.requests, counter.errors
            latencies = np.fromiter(counter.latencies, dtype=np.float64)
        if latencies.size == 0:
            return VariantSnapshot(variant, requests, errors, None, None, None)
        p50, p99 = np.percentile(latencies, [50, 99])
        return VariantSnapshot(
            variant, requests, errors, float(p50), float(p99), float(latencies.mean())
        )

    def forget(self, revision_id: str) -> None:
        with self._lock:
            for key in [k for k in self._counters if k[0] == revision_id]:
                del self._counters[key]
