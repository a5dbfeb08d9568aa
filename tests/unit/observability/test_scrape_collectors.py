"""Scrape-time collectors: a rebuilt container's replace the earlier ones until it closes."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily

from maestro_ml.observability.metrics import PlatformMetrics


class Counts:
    def __init__(self, value: float) -> None:
        self.value = value

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("test_counts", "counts of one container", value=self.value)


class Other(Counts):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("test_other", "another kind", value=self.value)


def served(metrics: PlatformMetrics) -> list[str]:
    return [line for line in generate_latest(metrics.registry).decode().splitlines()
            if line.startswith("test_")]


def test_the_latest_collector_of_a_class_is_served_and_the_earlier_comes_back():
    metrics = PlatformMetrics((0.1, 1.0))
    first, second, other = Counts(1), Counts(2), Other(7)
    metrics.register_collector(first)
    metrics.register_collector(other)
    metrics.register_collector(second)
    assert served(metrics) == ["test_other 7.0", "test_counts 2.0"]

    metrics.unregister_collector(second)
    assert served(metrics) == ["test_other 7.0", "test_counts 1.0"]
    metrics.unregister_collector(first)
    assert served(metrics) == ["test_other 7.0"]


def test_unregistering_a_replaced_collector_keeps_the_current_one():
    metrics = PlatformMetrics((0.1, 1.0))
    first, second = Counts(1), Counts(2)
    metrics.register_collector(first)
    metrics.register_collector(second)
    metrics.unregister_collector(first)  # closed while replaced: never comes back
    assert served(metrics) == ["test_counts 2.0"]
    metrics.unregister_collector(second)
    assert served(metrics) == []
