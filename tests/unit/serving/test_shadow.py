"""The shadow runner: never blocks the caller, drops and counts when full, compares answers."""

from __future__ import annotations

import threading

from maestro_ml.ml.model_io import PredictionOutput
from maestro_ml.serving.shadow import ShadowJob, ShadowRunner, agreeing_rows


def job(run, predictions=("a", "b")) -> ShadowJob:
    return ShadowJob(
        tenant_id="t", deployment_id="d", deployment_name="dep", variant="s", run=run,
        rows=[{}] * len(predictions), primary=PredictionOutput(list(predictions)),
        primary_seconds=0.001, tolerance=0.5,
    )


def test_a_stuck_shadow_never_blocks_submit_and_overflow_is_counted():
    release = threading.Event()

    def stuck(rows):
        release.wait(10)
        return PredictionOutput(["a", "b"])

    runner = ShadowRunner(queue_size=2)
    try:
        accepted = [runner.submit(job(stuck)) for _ in range(10)]  # returns at once
        assert accepted.count(True) <= 3 and runner.dropped == 10 - accepted.count(True)
    finally:
        release.set()
        assert runner.wait_idle(10)
        runner.stop()
    tally = runner.tallies("t", "d")[0]
    assert tally["requests"] == accepted.count(True) and tally["agreement_rate"] == 1.0


def test_failures_are_counted_not_raised():
    def broken(rows):
        raise RuntimeError("boom")

    runner = ShadowRunner()
    runner.submit(job(broken))
    assert runner.wait_idle(10)
    runner.stop()
    assert runner.tallies("t", "d") == [{
        "variant": "s", "requests": 1, "errors": 1, "rows": 0, "agreement_rate": None,
        "mean_latency_delta_ms": None}]


def test_agreement_is_label_equality_or_numeric_tolerance():
    assert agreeing_rows(["a", "b", "c"], ["a", "x", "c"], 0.0) == 2
    assert agreeing_rows([1.0, 2.0, 3.0], [1.05, 2.5, 2.0], 0.1) == 1
    assert agreeing_rows([True, False], [True, True], 0.5) == 1
