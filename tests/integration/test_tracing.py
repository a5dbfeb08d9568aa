"""Tracing over HTTP with the SDK's in-memory exporter: request → service → database spans in
one trace, the caller's traceparent continued, the response header, and jobs joining the
trace of the request that queued them. Also the untraced default (ids without spans)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from maestro_ml.api.app import create_app
from maestro_ml.bootstrap import build_container
from maestro_ml.config import Settings
from maestro_ml.observability import tracing
from tests.factories import Actors
from tests.integration.training_setup import (
    breast_cancer_csv,
    create_model,
    start_training,
    upload,
    wait_for_job,
)

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
CALLER = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    tracing.configure_tracing(memory)
    yield memory
    tracing.configure_tracing(None)


@pytest.fixture(scope="module")
def traced(settings: Settings, exporter: InMemorySpanExporter) -> Iterator[TestClient]:
    """An app built while tracing is on: service proxies and database spans included."""
    container = build_container(settings.model_copy(update={"run_worker": False}),
                                migrate=False)
    with TestClient(create_app(container), raise_server_exceptions=False) as client:
        yield client
    container.close()


def spans_of(exporter: InMemorySpanExporter, trace_id: str) -> list[Any]:
    return [s for s in exporter.get_finished_spans()
            if f"{s.context.trace_id:032x}" == trace_id]


def header_ids(response: Any) -> tuple[str, str]:
    version, trace_id, span_id, flags = response.headers["traceparent"].split("-")
    assert version == "00" and len(trace_id) == 32 and len(span_id) == 16
    return trace_id, span_id


def test_request_service_and_database_spans_share_one_trace(
    traced: TestClient, exporter: InMemorySpanExporter, tenant: Actors
):
    response = traced.post("/api/v1/experiments", json={"name": "traced-exp"},
                           headers=tenant.headers("data_scientist"))
    assert response.status_code == 201, response.text
    trace_id, span_id = header_ids(response)

    spans = spans_of(exporter, trace_id)
    by_id = {s.context.span_id: s for s in spans}
    server = [s for s in spans if s.kind == SpanKind.SERVER]
    assert len(server) == 1 and server[0].name == "POST /api/v1/experiments"
    assert f"{server[0].context.span_id:016x}" == span_id
    assert server[0].attributes["http.route"] == "/api/v1/experiments"
    assert server[0].attributes["http.response.status_code"] == 201
    service = [s for s in spans if s.name.startswith("experiments.")]
    assert service and service[0].parent.span_id == server[0].context.span_id
    database = [s for s in spans if s.kind == SpanKind.CLIENT]
    assert database, [s.name for s in spans]

    def ancestors(span: Any) -> list[str]:
        chain = []
        while span.parent is not None and span.parent.span_id in by_id:
            span = by_id[span.parent.span_id]
            chain.append(span.name)
        return chain

    inserts = [s for s in database if "experiments." in " ".join(ancestors(s))]
    assert inserts, "no database span under the service span"


def test_incoming_traceparent_is_continued(traced: TestClient, exporter: InMemorySpanExporter,
                                           tenant: Actors):
    response = traced.get("/api/v1/experiments", headers={
        **tenant.headers("viewer"), "traceparent": CALLER})
    assert response.status_code == 200
    trace_id, span_id = header_ids(response)
    assert trace_id == CALLER_TRACE and span_id != CALLER_SPAN
    server = [s for s in spans_of(exporter, CALLER_TRACE) if s.kind == SpanKind.SERVER]
    assert server[-1].parent.span_id == int(CALLER_SPAN, 16)
    assert server[-1].name == "GET /api/v1/experiments"


def test_invalid_traceparent_starts_a_new_trace(traced: TestClient, tenant: Actors):
    response = traced.get("/api/v1/experiments", headers={
        **tenant.headers("viewer"), "traceparent": "00-" + "0" * 32 + "-" + "0" * 16 + "-01"})
    assert response.status_code == 200
    assert header_ids(response)[0] != "0" * 32


def test_errors_mark_the_server_span(traced: TestClient, exporter: InMemorySpanExporter,
                                     tenant: Actors):
    response = traced.get("/api/v1/runs/ffffffffffffffff", headers=tenant.headers("viewer"))
    assert response.status_code == 404
    trace_id, _ = header_ids(response)
    server = [s for s in spans_of(exporter, trace_id) if s.kind == SpanKind.SERVER]
    assert server[0].name == "GET /api/v1/runs/{run_id}"
    assert server[0].attributes["http.response.status_code"] == 404


def test_untraced_requests_still_carry_and_continue_trace_ids(client: TestClient,
                                                              tenant: Actors):
    fresh = client.get("/healthz")
    trace_a, _ = header_ids(fresh)
    again = client.get("/healthz")
    assert header_ids(again)[0] != trace_a  # each request its own trace
    continued = client.get("/healthz", headers={"traceparent": CALLER})
    assert header_ids(continued)[0] == CALLER_TRACE


def test_a_job_continues_the_trace_of_the_request_that_queued_it(
    client: TestClient, exporter: InMemorySpanExporter, tenant: Actors
):
    dataset = upload(client, tenant, breast_cancer_csv())
    assert dataset.status_code == 201, dataset.text
    model = create_model(client, tenant)
    caller = "00-" + "a1" * 16 + "-" + "b2" * 8 + "-01"
    original = client.headers.get("traceparent")
    client.headers["traceparent"] = caller
    try:
        experiment = start_training(client, tenant, model["id"], dataset.json()["id"])
    finally:
        client.headers.pop("traceparent")
        if original:
            client.headers["traceparent"] = original
    job = wait_for_job(client, tenant, experiment["job_id"])
    assert job["status"] == "succeeded", job
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        jobs = [s for s in spans_of(exporter, "a1" * 16) if s.name == "job train"]
        if jobs:
            break
        time.sleep(0.1)
    assert jobs, "the job's span did not join the caller's trace"
    assert jobs[0].kind == SpanKind.CONSUMER
    assert jobs[0].attributes["maestro.job.id"] == experiment["job_id"]
