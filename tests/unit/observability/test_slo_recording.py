"""The request recorder and the middleware's choice of SLO target."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from maestro_ml.api.middleware.slo import SloMiddleware, target_of
from maestro_ml.observability.slo_recorder import API, MinuteCounts, SloRecorder


@pytest.mark.parametrize(("method", "path", "target"), [
    ("GET", "/api/v1/experiments", "api"),
    ("POST", "/api/v1/runs/abc/metrics", "api"),
    ("POST", "/api/v1/deployments/churn/predict", "/churn"),
    ("GET", "/api/v1/deployments/churn/predict", "api"),  # not the predict route
    ("POST", "/api/v1/deployments/a/b/predict", "api"),
    ("POST", "/v2/models/churn/infer", "/churn"),
    ("POST", "/v2/models/churn/versions/3/infer", "/churn"),
    ("GET", "/v2/models/churn", None),
    ("GET", "/healthz", None), ("GET", "/metrics", None),
    ("POST", "/api/2.0/mlflow/runs/create", None), ("GET", "/", None),
])
def test_targets(method, path, target):
    assert target_of(method, path) == target


def test_the_recorder_counts_bad_and_slow_per_minute():
    now = [120.5]
    recorder = SloRecorder(0.5, 0.1, clock=lambda: now[0])
    recorder.record(API, 200, 0.2)
    recorder.record(API, 503, 0.7)
    recorder.record(API, 429, 0.01)  # the client's doing: not bad
    recorder.record(("t1", "churn"), 200, 0.2)  # above the deployment's 0.1 s
    recorder.set_thresholds({("t1", "churn"): 0.3})
    recorder.record(("t1", "churn"), 200, 0.2)
    now[0] = 185.0
    recorder.record(API, 500, 0.1)

    drained = recorder.drain()

    assert drained[(API, 2)] == MinuteCounts(3, 1, 1)
    assert drained[(("t1", "churn"), 2)] == MinuteCounts(2, 0, 1)
    assert drained[(API, 3)] == MinuteCounts(1, 1, 0)
    assert recorder.drain() == {}
    recorder.restore(drained)
    assert recorder.drain() == drained


def _run(app, scope):
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def test_the_middleware_records_status_and_the_callers_tenant():
    recorder = SloRecorder(0.5, 0.1, clock=lambda: 60.0)

    async def endpoint(scope, receive, send):
        scope["state"]["principal"] = SimpleNamespace(tenant_id="t1")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def failing(scope, receive, send):
        raise RuntimeError("boom")

    scope = {"type": "http", "method": "POST", "path": "/api/v1/deployments/churn/predict"}
    _run(SloMiddleware(endpoint, recorder), dict(scope))
    with pytest.raises(RuntimeError):
        _run(SloMiddleware(failing, recorder), {**scope, "path": "/api/v1/experiments"})
    # No principal (refused before authentication): not the deployment's request.
    _run(SloMiddleware(_answering(401), recorder), dict(scope))
    # A deployment that does not exist: nothing to count it towards.
    _run(SloMiddleware(_answering(404, authenticated=True), recorder), dict(scope))

    drained = recorder.drain()
    assert drained == {
        (("t1", "churn"), 1): MinuteCounts(1, 0, 0),
        (API, 1): MinuteCounts(1, 1, 0),  # an exception is a server failure
    }


def _answering(status: int, *, authenticated: bool = False):
    async def endpoint(scope, receive, send):
        if authenticated:
            scope["state"]["principal"] = SimpleNamespace(tenant_id="t1")
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})
    return endpoint
