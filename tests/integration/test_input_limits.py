"""Input limits, each refused with 413/422 problem+json naming the limit: body size, JSON
depth, string length, page size, prediction batch rows, params/metrics per tracking batch."""

from __future__ import annotations

import orjson
import pytest
from fastapi.testclient import TestClient

from maestro_ml.api.middleware.json_limits import json_depth_exceeds, longest_string
from maestro_ml.bootstrap import Container
from maestro_ml.config import Settings
from tests.factories import Actors, make_tenant, unique
from tests.model_factories import create_model, make_model_version, sample_rows


@pytest.fixture(scope="module")
def tenant(client: TestClient, root_token: str) -> Actors:
    return make_tenant(client, root_token)


@pytest.fixture(scope="module")
def run_id(client: TestClient, tenant: Actors) -> str:
    experiment = client.post("/api/v1/experiments", headers=tenant.headers("data_scientist"),
                             json={"name": unique("limits")})
    run = client.post("/api/v1/runs", headers=tenant.headers("data_scientist"),
                      json={"experiment_id": experiment.json()["id"]})
    assert run.status_code == 201, run.text
    return run.json()["id"]


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def test_json_nested_deeper_than_the_limit_is_422_naming_it(
    client: TestClient, tenant: Actors, settings: Settings
):
    response = client.post("/api/v1/experiments", headers={
        **tenant.headers("data_scientist"), "Content-Type": "application/json"},
        content=nested(settings.max_json_depth + 1))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["limit"] == settings.max_json_depth == 32
    assert body["setting"] == "MAESTRO_MAX_JSON_DEPTH"
    assert "deeper than 32" in body["detail"]


def test_json_at_the_depth_limit_reaches_the_route(
    client: TestClient, tenant: Actors, settings: Settings
):
    tags = nested(settings.max_json_depth - 1)  # inside {"tags": ...}: depth 32 in all
    body = b'{"name":"' + unique("deep").encode() + b'","tags":' + tags + b"}"
    response = client.post("/api/v1/experiments", headers={
        **tenant.headers("data_scientist"), "Content-Type": "application/json"}, content=body)
    assert response.status_code == 422  # the schema refuses non-string tags, not the limit
    assert response.json()["code"] == "invalid_input"
    assert "setting" not in response.json()


def test_brackets_inside_strings_do_not_count_as_depth(client: TestClient, tenant: Actors):
    name = unique("brackets")
    response = client.post("/api/v1/experiments", headers=tenant.headers("data_scientist"),
                           json={"name": name, "description": "[[[{{{" * 100})
    assert response.status_code == 201, response.text
    assert response.json()["description"] == "[[[{{{" * 100


def test_a_string_over_the_limit_is_413_naming_it(
    client: TestClient, tenant: Actors, settings: Settings
):
    response = client.post("/api/v1/experiments", headers=tenant.headers("data_scientist"),
                           json={"name": unique("long"),
                                 "description": "x" * (settings.max_string_bytes + 1)})
    assert response.status_code == 413
    body = response.json()
    assert (body["limit"], body["setting"]) == (1024 * 1024, "MAESTRO_MAX_STRING_BYTES")


def test_a_body_over_the_size_limit_is_413_naming_it(
    client: TestClient, tenant: Actors, settings: Settings
):
    response = client.post("/api/v1/experiments", headers=tenant.headers("data_scientist"),
                           content=b"[" + b"1," * (settings.max_body_bytes // 2) + b"1]")
    assert response.status_code == 413
    assert response.json()["limit"] == settings.max_body_bytes


@pytest.mark.parametrize("limit", [0, 1001, 10**9])
def test_a_page_size_out_of_bounds_is_422_naming_the_maximum(
    client: TestClient, tenant: Actors, limit: int
):
    response = client.get(f"/api/v1/experiments?limit={limit}", headers=tenant.headers("viewer"))
    assert response.status_code == 422
    assert response.json()["maximum"] == 1000
    assert "1000" in response.json()["detail"]


def test_tracking_batch_over_the_params_limit_is_422_naming_it(
    client: TestClient, tenant: Actors, run_id: str
):
    params = [{"key": f"p{i}", "value": "1"} for i in range(101)]
    response = client.post(f"/api/v1/runs/{run_id}/batch", headers=tenant.headers("data_scientist"),
                           json={"params": params})
    assert response.status_code == 422
    assert (response.json()["field"], response.json()["limit"]) == ("params", 100)


def test_tracking_batch_over_the_metrics_limit_is_422_naming_it(
    client: TestClient, tenant: Actors, run_id: str
):
    metrics = [{"key": "loss", "value": 0.1, "step": i, "timestamp": 1} for i in range(1001)]
    response = client.post(f"/api/v1/runs/{run_id}/batch", headers=tenant.headers("data_scientist"),
                           json={"metrics": metrics})
    assert response.status_code == 422
    assert (response.json()["field"], response.json()["limit"]) == ("metrics", 1000)
    history = client.get(f"/api/v1/runs/{run_id}/metrics/loss/history",
                         headers=tenant.headers("viewer"))
    assert history.json()["items"] == []  # all-or-nothing


def test_a_prediction_batch_over_max_batch_rows_is_413_naming_it(
    client: TestClient, container: Container, tenant: Actors, settings: Settings
):
    model = create_model(client, tenant)
    make_model_version(container, tenant.tenant_id, model["id"], seed=0)
    deployment = client.post("/api/v1/deployments", headers=tenant.headers("ml_engineer"),
                             json={"model_id": model["id"]})
    assert deployment.status_code == 201, deployment.text
    url = f"/api/v1/deployments/{deployment.json()['name']}/predict"
    rows = sample_rows(1) * (settings.max_batch_rows + 1)
    response = client.post(url, headers=tenant.headers("data_scientist"),
                           json={"instances": rows})
    assert response.status_code == 413
    assert response.json()["limit"] == settings.max_batch_rows
    assert str(settings.max_batch_rows + 1) in response.json()["detail"]
    ok = client.post(url, headers=tenant.headers("data_scientist"),
                     json={"instances": sample_rows(3)})
    assert ok.status_code == 200 and len(ok.json()["predictions"]) == 3


# -- the scanner itself ----------------------------------------------------------------
NESTED_40 = orjson.loads(b"[" * 40 + b"]" * 40)


def reference_depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(reference_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(reference_depth, value), default=0)
    return 0


@pytest.mark.parametrize("value", [
    [], {}, [[[[]]]], {"a": [1, {"b": [2, [3]]}]}, ["]]]]", "[[[[", {"k]": "}{"}],
    [["\\", ['\\"[[', {'"': ["\\\\]", []]}]]], NESTED_40,
    {"features": {f"f{i}": i for i in range(50)}}, {"instances": [{"a": 1}] * 200},
])
def test_the_depth_scanner_agrees_with_a_parser(value: object):
    raw = orjson.dumps(value)
    depth = reference_depth(value)
    assert not json_depth_exceeds(raw, depth)
    assert json_depth_exceeds(raw, depth - 1) == (depth > 0)


def test_the_string_scanner_measures_the_longest_string():
    raw = orjson.dumps({"short": "ab", "long": 'x\\"y' * 300, "n": [1] * 2000})
    assert longest_string(raw, 10) == len('x\\"y') * 300  # an escape counts as one byte
    assert longest_string(raw, len(raw)) == 0
