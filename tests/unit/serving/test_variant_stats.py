"""Per-(revision, variant) counters: requests, errors and latency percentiles."""

from __future__ import annotations

import threading

import pytest

from maestro_ml.serving.variant_stats import VariantStats


def test_counts_errors_and_percentiles_per_revision_and_variant():
    stats = VariantStats()
    for ms in range(1, 101):
        stats.record("r1", "canary", ms / 1000, ok=ms % 10 != 0)
    stats.record("r2", "canary", 0.5, ok=True)

    snapshot = stats.snapshot("r1", "canary")

    assert (snapshot.requests, snapshot.errors) == (100, 10)
    assert snapshot.error_rate == pytest.approx(0.1)
    assert snapshot.p50_ms == pytest.approx(50.5) and snapshot.p99_ms == pytest.approx(99.01)
    assert stats.snapshot("r2", "canary").requests == 1
    assert stats.snapshot("r1", "primary").requests == 0


def test_the_latency_window_keeps_the_most_recent_requests():
    stats = VariantStats(window=10)
    for _ in range(100):
        stats.record("r", "v", 1.0, ok=True)
    for _ in range(10):
        stats.record("r", "v", 0.001, ok=True)

    snapshot = stats.snapshot("r", "v")

    assert snapshot.requests == 110 and snapshot.p99_ms == pytest.approx(1.0)


def test_forget_drops_a_revision_and_threads_lose_no_count():
    stats = VariantStats()

    def work() -> None:
        for _ in range(1000):
            stats.record("r", "v", 0.001, ok=True)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert stats.snapshot("r", "v").requests == 4000
    stats.forget("r")
    assert stats.snapshot("r", "v").requests == 0
