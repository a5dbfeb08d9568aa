"""Resource consumption: oversize bodies, deep and wide JSON, huge pages, batches, params.

Each is refused with a 4xx naming the limit (413 for size, 422 for shape), never a 500 and
never served in full.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from maestro_ml.config import Settings

from .conftest import Tally, World
from .corpora import deep_array, deep_json, wide_object
from .probing import raw_request

JSON = {"Content-Type": "application/json"}


def test_oversize_deep_and_wide_bodies_are_refused(
    client: TestClient, world: World, settings: Settings, tally: Tally
):
    h = {**world.attacker.headers(), **JSON}
    run = world.attacker.ids["run_id"]
    big = b'{"name": "' + b"x" * (settings.max_body_bytes + 1) + b'"}'
    cases = {
        "oversize body": ("/api/v1/experiments", big, {413}),
        "deep object": ("/api/v1/experiments", deep_json(100_000).encode(), {400, 413, 422}),
        "deep array": (f"/api/v1/runs/{run}/batch", deep_array(100_000).encode(),
                       {400, 413, 422}),
        "deep tags": ("/api/v1/models", ('{"name":"m","task":"regression","framework":"sklearn",'
                                         '"tags":' + deep_json(5_000) + "}").encode(),
                      {400, 413, 422}),
        "wide tags": ("/api/v1/experiments",
                      b'{"tags": ' + str(wide_object(200_000)).replace("'", '"').encode() + b"}",
                      {400, 413, 422}),
        "huge number": ("/api/v1/runs", b'{"experiment_id": "x", "start_time": 1' + b"0" * 5000
                        + b"}", {400, 413, 422}),
    }
    violations = []
    for name, (path, body, expected) in cases.items():
        response = client.post(path, headers=h, content=body)
        if response.status_code not in expected:
            violations.append(f"{name}: {response.status_code} {response.text[:160]}")
    tally.record("resource consumption", len(cases), violations)
    assert violations == []


def test_page_sizes_batches_and_parameter_floods_are_bounded(
    client: TestClient, world: World, settings: Settings, tally: Tally
):
    h = world.attacker.headers()
    run = world.attacker.ids["run_id"]
    violations, tried = [], 0
    for limit in ("1000000000", str(2**63), str(10**30), "-1", "0", "1e9", "NaN", "x"):
        for path in ("/api/v1/runs", "/api/v1/models", "/api/v1/jobs",
                     f"/api/v1/runs/{run}/metrics/accuracy/history"):
            response = client.get(path, headers=h, params={"limit": limit})
            tried += 1
            if response.status_code == 200:
                if len(response.json()["items"]) > settings.max_page_size:
                    violations.append(f"{path}?limit={limit}: served an unbounded page")
            elif response.status_code != 422:
                violations.append(f"{path}?limit={limit}: {response.status_code}")
    batches = {
        "metrics": {"metrics": [{"key": f"m{i}", "value": 1.0} for i in range(1001)]},
        "params": {"params": [{"key": f"p{i}", "value": "v"} for i in range(101)]},
        "tags": {"tags": [{"key": f"t{i}", "value": "v"} for i in range(101)]},
    }
    for name, body in batches.items():
        response = client.post(f"/api/v1/runs/{run}/batch", headers=h, json=body)
        tried += 1
        if response.status_code not in (413, 422):
            violations.append(f"batch of too many {name}: {response.status_code}")
    flood = "&".join(f"p{i}=v" for i in range(20_000))
    for path in ("/api/v1/models", f"/api/v1/runs/{run}"):
        status, _, _ = raw_request(client, "GET", path, h, query=flood.encode())
        tried += 1
        if status >= 500 or status == 0:
            violations.append(f"{path} with 20000 params: {status}")
    predict = f"/api/v1/deployments/{world.attacker.ids['id_or_name']}/predict"
    rows = {"instances": [{"x1": 1, "x2": 2}] * (settings.max_batch_rows + 1)}
    response = client.post(predict, headers=h, json=rows)
    tried += 1
    if response.status_code not in (413, 422):
        violations.append(f"predict over max_batch_rows: {response.status_code}")
    tally.record("resource consumption", tried, violations)
    assert violations == []
