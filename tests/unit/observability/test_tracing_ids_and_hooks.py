"""Pure pieces of observability: W3C traceparent parsing, ids, exporter selection from the
standard OTEL_* variables, metric hooks as no-ops until installed, and the route label."""

from __future__ import annotations

import pytest

from maestro_ml.config import Settings
from maestro_ml.observability import metrics, tracing

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_valid_traceparent_parses():
    ids = tracing.parse_traceparent(VALID)
    assert ids is not None
    assert ids.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert ids.span_id == "00f067aa0ba902b7" and ids.sampled
    assert ids.traceparent == VALID


@pytest.mark.parametrize("bad", [
    None, "", "garbage", VALID.replace("00-", "ff-", 1),
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
    "00-4bf92f3577b34da6a3ce929d0e0e473z-00f067aa0ba902b7-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
])
def test_invalid_traceparents_are_ignored(bad):
    assert tracing.parse_traceparent(bad) is None


def test_child_ids_keep_the_trace_and_get_a_new_span():
    parent = tracing.parse_traceparent(VALID)
    child = tracing.new_ids(parent)
    assert child.trace_id == parent.trace_id and child.span_id != parent.span_id
    root = tracing.new_ids()
    assert len(root.trace_id) == 32 and len(root.span_id) == 16 and not root.sampled


def test_spans_cost_nothing_when_tracing_is_off():
    tracing.configure_tracing(None)
    with tracing.span("anything") as span:
        assert span is None
    token = tracing.set_ids(tracing.parse_traceparent(VALID))
    try:
        assert tracing.current_traceparent() == VALID
    finally:
        tracing.reset_ids(token)


def test_the_exporter_comes_from_the_standard_otel_variables(monkeypatch):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert Settings().tracing_exporter == "otlp"
    provider = tracing.configure_tracing(Settings().tracing_exporter)
    try:
        assert provider is not None and tracing.tracer() is not None
        assert "NoOrphanClientSpans" in provider.sampler.get_description()
    finally:
        tracing.configure_tracing(None)
    assert tracing.tracer() is None
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert tracing.configure_tracing(Settings().tracing_exporter) is None


def test_hooks_are_no_ops_until_metrics_are_installed():
    previous = metrics.active_metrics()
    metrics.uninstall_metrics()
    try:
        metrics.observe_prediction("d", "primary", 0.01, 1, "ok")  # nothing to feed, no error
        metrics.observe_model_cache("hit")
        body, content_type = metrics.render(None)
        assert body == b"" and content_type.startswith("text/plain")
    finally:
        if previous is not None:
            assert metrics.install_metrics(previous.latency_buckets) is previous


def test_configured_buckets_include_the_slo_thresholds():
    live = metrics.install_metrics()
    for threshold in (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5):
        assert threshold in live.latency_buckets
