"""Client-side behaviour of SDK resources: job waits, batch splitting, uploads, argument
checks (httpx.MockTransport answers; the logic under test is the SDK's own)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

import maestro_ml
from maestro_ml.sdk.resources.runs import MAX_METRICS_PER_BATCH, MAX_PARAMS_PER_BATCH

Handler = Callable[[httpx.Request], httpx.Response]


def client_with(handler: Handler) -> maestro_ml.Client:
    return maestro_ml.Client(
        api_url="http://maestro.test", api_key="mk_test", show_progress=False,
        http_transport=httpx.MockTransport(handler),
        retry=maestro_ml.RetryPolicy(max_retries=2, backoff_base=0.0),
    )


def job(status: str, **fields: object) -> dict[str, object]:
    return {"id": "j1", "kind": "train", "status": status, "progress": 0.5,
            "progress_message": "fitting", "run_id": "r1", **fields}


def test_wait_for_run_raises_training_error_with_the_jobs_message() -> None:
    answers = iter([job("running"), job("failed", error="target 'x' is not a column",
                                         error_code="training_error")])
    client = client_with(lambda request: httpx.Response(200, json=next(answers)))

    with pytest.raises(maestro_ml.TrainingError) as caught:
        client.jobs.wait_for_run("j1", poll_interval=0.0)

    assert caught.value.detail == "target 'x' is not a column"
    assert caught.value.extra["job_id"] == "j1"
    assert caught.value.status is None
    assert caught.value.problem["code"] == "training_error"


def test_wait_for_run_returns_the_finished_run() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/jobs/j1":
            return httpx.Response(200, json=job("succeeded", progress=1.0))
        return httpx.Response(200, json={"id": "r1", "experiment_id": "e1", "status": "FINISHED",
                                         "metrics": {"accuracy": 0.97}})

    run = client_with(handler).jobs.wait_for_run("j1", poll_interval=0.0)

    assert run.id == "r1" and run.metrics == {"accuracy": 0.97}


def test_wait_gives_up_after_the_timeout_naming_the_job() -> None:
    client = client_with(lambda request: httpx.Response(200, json=job("running")))

    with pytest.raises(maestro_ml.WaitTimeout) as caught:
        client.jobs.wait("j1", timeout=0.05, poll_interval=0.01)

    assert caught.value.job_id == "j1"
    assert "still running" in str(caught.value)


def test_experiment_without_a_job_cannot_be_waited_on() -> None:
    client = client_with(lambda request: httpx.Response(201, json={"id": "e1", "name": "x"}))
    experiment = client.experiments.create("x")

    with pytest.raises(maestro_ml.InvalidInput):
        experiment.wait_for_completion()


def test_log_batch_splits_rows_into_calls_within_the_server_limits() -> None:
    bodies: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.read()))
        return httpx.Response(200, json={})

    params = {f"p{i}": i for i in range(MAX_PARAMS_PER_BATCH + 5)}
    metrics = {f"m{i}": float(i) for i in range(MAX_METRICS_PER_BATCH * 2 + 1)}
    client_with(handler).runs.log_batch("r1", params=params, metrics=metrics, step=4)

    assert [len(b["params"]) for b in bodies] == [MAX_PARAMS_PER_BATCH, 5, 0]
    assert [len(b["metrics"]) for b in bodies] == [MAX_METRICS_PER_BATCH] * 2 + [1]
    assert bodies[0]["params"][7] == {"key": "p7", "value": "7"}
    assert {m["step"] for b in bodies for m in b["metrics"]} == {4}


def test_dataset_upload_is_multipart_with_a_length_and_resent_whole_after_a_503(
    tmp_path: Path
) -> None:
    data = tmp_path / "churn.csv"
    data.write_bytes(b"tenure,plan,churned\n" + b"12,pro,0\n" * 5000)
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.read())
        assert int(request.headers["Content-Length"]) == len(seen[-1])
        if len(seen) == 1:
            return httpx.Response(503, headers={"Retry-After": "0"}, json={"code": "unavailable"})
        return httpx.Response(201, json={"id": "d1", "name": "churn", "version": 1})

    dataset = client_with(handler).datasets.upload(data, name="churn")

    assert dataset.id == "d1"
    assert len(seen) == 2 and len(seen[0]) == len(seen[1])
    assert data.read_bytes() in seen[0] and data.read_bytes() in seen[1]
    assert b'name="name"\r\n\r\nchurn' in seen[1]


def test_predict_needs_exactly_one_of_features_and_instances() -> None:
    client = client_with(lambda request: httpx.Response(500))

    with pytest.raises(maestro_ml.InvalidInput):
        client.predict("dep")
    with pytest.raises(maestro_ml.InvalidInput):
        client.predict("dep", features={"a": 1}, instances=[{"a": 1}])


def test_predict_sends_numpy_values_as_plain_json() -> None:
    import numpy as np

    sent: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.read()))
        return httpx.Response(200, json={"deployment": "d", "model_version": 1,
                                         "predictions": [1], "probabilities": None,
                                         "classes": None})

    client_with(handler).predict("d", features={"a": np.int64(3), "b": np.float32(0.5),
                                                "c": float("nan")})

    assert sent == [{"features": {"a": 3, "b": 0.5, "c": None}}]


def test_names_are_escaped_into_a_single_path_segment() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode())
        return httpx.Response(200, json={"id": "x", "name": "a/b", "model_id": "m"})

    client_with(handler).deployments.get("a/b c")

    assert paths == ["/api/v1/deployments/a%2Fb%20c"]
