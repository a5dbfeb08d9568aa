"""The SLO gauges, computed at scrape time from the platform's request records.

One collector per process, registered on the live metrics registry; its source (the SLO
service's platform-wide view) is plugged in by the app and the result cached a few seconds,
so frequent scrapes (or several Prometheus servers) cost one computation per interval.

    maestro_slo_objective_ratio{slo,tenant}
    maestro_slo_error_budget_remaining_ratio{slo,tenant}
    maestro_slo_burn_rate{slo,tenant,window}
    maestro_slo_alert_firing{slo,tenant,severity}     severity: page | ticket

``tenant`` is the tenant's name for a deployment's SLO and "" for the API's. Alongside:

    maestro_secret_expiry_timestamp_seconds{kind}      kind: api_key (the earliest active)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client.core import GaugeMetricFamily

from maestro_ml.domain.slo import WINDOWS, Severity

from . import metrics

log = logging.getLogger("maestro_ml.slo")

Source = Callable[[], Sequence[Any]]
"""Returns objects with ``.tenant`` and ``.status`` (a ``domain.slo.SloStatus``)."""


class SloCollector:
    def __init__(self, cache_seconds: float = 5.0) -> None:
        self.cache_seconds = cache_seconds
        self.source: Source | None = None
        self.key_expiry: Callable[[], float | None] | None = None
        self._cached: tuple[float, list[GaugeMetricFamily]] | None = None
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        """Compute afresh at the next scrape."""
        self._cached = None

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # computed at scrape: nothing to check at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] >= self.cache_seconds:
                self._cached = (now, self._families())
            yield from self._cached[1]

    def _families(self) -> list[GaugeMetricFamily]:
        objective = GaugeMetricFamily(
            "maestro_slo_objective_ratio", "The SLO's objective (share of good requests)",
            labels=["slo", "tenant"],
        )
        budget = GaugeMetricFamily(
            "maestro_slo_error_budget_remaining_ratio",
            "Share of the SLO window's error budget left (negative: overspent)",
            labels=["slo", "tenant"],
        )
        burn = GaugeMetricFamily(
            "maestro_slo_burn_rate", "Error-budget burn rate over a window",
            labels=["slo", "tenant", "window"],
        )
        firing = GaugeMetricFamily(
            "maestro_slo_alert_firing", "1 when the burn-rate policy fires at this severity",
            labels=["slo", "tenant", "severity"],
        )
        expiry = GaugeMetricFamily(
            "maestro_secret_expiry_timestamp_seconds",
            "Unix time the earliest active secret of a kind expires", labels=["kind"],
        )
        families = [objective, budget, burn, firing, expiry]
        if self.source is None or self.key_expiry is None:
            return families
        try:
            found = self.source()
            key_expiry = self.key_expiry()
        except Exception:  # a scrape must not fail because the database is away
            log.warning("SLO gauges could not be computed", exc_info=True)
            return families
        if key_expiry is not None:
            expiry.add_metric(["api_key"], key_expiry)
        for item in found:
            status, tenant = item.status, item.tenant or ""
            name = status.definition.name
            objective.add_metric([name, tenant], status.definition.objective)
            budget.add_metric([name, tenant], status.error_budget_remaining)
            for window in WINDOWS:
                burn.add_metric([name, tenant, window], status.burn_rates.get(window, 0.0))
            for severity in (Severity.PAGE, Severity.TICKET):
                value = 1.0 if status.alert.severity is severity else 0.0
                firing.add_metric([name, tenant, severity.value], value)
        return families


_collector = SloCollector()
_registered_on: set[int] = set()


def install_slo_gauges(
    source: Source, key_expiry: Callable[[], float | None], cache_seconds: float = 5.0
) -> SloCollector:
    """Serve the SLO gauges from ``source`` on the live registry (once per registry)."""
    _collector.source = source
    _collector.key_expiry = key_expiry
    _collector.cache_seconds = cache_seconds
    _collector.invalidate()
    active = metrics.active_metrics()
    if active is not None and id(active.registry) not in _registered_on:
        metrics.register_collector(_collector)
        _registered_on.add(id(active.registry))
    return _collector
