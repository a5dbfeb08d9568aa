"""Structured logs over HTTP: one JSON object per line with the request's ids, an access line
per request, and no secret (password, token, API key) anywhere in the output."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import orjson
import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from maestro_ml.api.middleware.metrics import MetricsMiddleware
from maestro_ml.api.middleware.tracing import TracingMiddleware
from maestro_ml.observability.logging import TextFormatter, configure_logging, redact
from tests.factories import PASSWORD, Actors


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging("json", "INFO", stream=stream)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_every_request_gets_a_json_access_line_with_its_ids(
    client: TestClient, tenant: Actors, captured: io.StringIO
):
    response = client.get("/api/v1/runs/0123456789abcdef", headers={
        **tenant.headers("viewer"), "X-Request-ID": "req-logging-test-1"})
    assert response.status_code == 404
    trace_id = response.headers["traceparent"].split("-")[1]

    access = [line for line in lines(captured) if line["logger"] == "maestro_ml.access"]
    assert len(access) == 1
    entry = access[0]
    assert {"time", "level", "logger", "message"} <= entry.keys()
    assert entry["level"] == "INFO"
    assert entry["request_id"] == "req-logging-test-1" == response.headers["x-request-id"]
    assert entry["trace_id"] == trace_id and len(entry["span_id"]) == 16
    assert entry["route"] == "/api/v1/runs/{run_id}" and entry["method"] == "GET"
    assert entry["status"] == 404 and entry["duration_ms"] >= 0
    assert entry["tenant"] == tenant.tenant_id and entry["user"]


def test_lines_logged_by_a_handler_thread_carry_the_request_ids(captured: io.StringIO):
    def handler(request: Request) -> PlainTextResponse:  # sync: runs in the thread pool
        request.state.request_id = "req-in-thread-1"
        logging.getLogger("maestro_ml.handler").info("working on it")
        return PlainTextResponse("ok")

    app = TracingMiddleware(MetricsMiddleware(Starlette(routes=[Route("/work", handler)]),
                                              metrics=None))
    with TestClient(app) as local:
        response = local.get("/work", headers={
            "traceparent": "00-" + "c3" * 16 + "-" + "d4" * 8 + "-01"})
    assert response.headers["traceparent"].split("-")[1] == "c3" * 16
    ours = [e for e in lines(captured) if e["logger"].startswith("maestro_ml.")]
    assert [e["logger"] for e in ours] == ["maestro_ml.handler", "maestro_ml.access"]
    assert all(e["trace_id"] == "c3" * 16 for e in ours)
    assert ours[0]["request_id"] == "req-in-thread-1"
    assert ours[1]["route"] == "/work" and ours[1]["status"] == 200


def test_secrets_never_reach_the_log(
    client: TestClient, tenant: Actors, captured: io.StringIO
):
    login = client.post("/api/v1/auth/token", json={"email": tenant.emails["viewer"],
                                                    "password": PASSWORD})
    assert login.status_code == 200, login.text
    tokens = login.json()
    access, refresh = tokens["access_token"], tokens.get("refresh_token")
    api_key = tenant.keys["viewer"]
    assert client.get("/api/v1/experiments", headers={
        "Authorization": f"Bearer {access}"}).status_code == 200
    assert client.get("/api/v1/experiments", headers=tenant.headers("viewer")).status_code == 200
    noisy = logging.getLogger("maestro_ml.test")
    noisy.warning("careless: Authorization: Bearer %s key=%s", access, api_key)
    noisy.warning("careless: password=%s refresh %s", PASSWORD, refresh)
    noisy.warning("careless dict: %s", {"api_key": api_key, "password": PASSWORD})
    noisy.error("careless extra", extra={"path": f"/x?token={access}"})

    output = captured.getvalue()
    assert output.count("careless") == 4  # the lines were written...
    for secret in (access, api_key, PASSWORD, refresh):  # ...without a single secret
        if secret:
            assert secret not in output
            assert secret[8:30] not in output
    assert "[REDACTED]" in output


def test_redaction_patterns():
    assert redact("Bearer abc.def-ghi") == "Bearer [REDACTED]"
    assert "mk_" not in redact("key mk_AbCdEf0123456789xyz")
    assert redact('{"password": "hunter22"}') == '{"password": "[REDACTED]"}'
    assert redact("client_secret=s3cr3t&x=1") == "client_secret=[REDACTED]&x=1"
    assert redact("nothing to hide here") == "nothing to hide here"


def test_text_format_is_one_readable_line():
    record = logging.LogRecord("maestro_ml.x", logging.INFO, __file__, 1, "hello %s",
                               ("world",), None)
    record.request_id = "r-1"
    text = TextFormatter().format(record)
    assert "INFO" in text and "maestro_ml.x: hello world" in text and "request_id=r-1" in text
