"""The MLflow tracking REST API over the real app: shapes, error codes, limits, auth, tenancy."""

from __future__ import annotations

import base64
import math

import pytest
from fastapi.testclient import TestClient

from tests.factories import PASSWORD, Actors, unique

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


def basic(email: str, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{email}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def new_experiment(client: TestClient, headers: dict[str, str], **extra: object) -> str:
    response = client.post(f"{API}/experiments/create", json={"name": unique("exp"), **extra},
                           headers=headers)
    assert response.status_code == 200, response.text
    return str(response.json()["experiment_id"])


def new_run(client: TestClient, headers: dict[str, str], experiment_id: str, **extra: object
            ) -> dict:
    response = client.post(f"{API}/runs/create",
                           json={"experiment_id": experiment_id, **extra}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["run"]


@pytest.fixture
def writer(tenant: Actors) -> dict[str, str]:
    return tenant.headers("data_scientist")


def test_experiment_shapes_tags_and_lifecycle(client: TestClient, writer: dict[str, str]):
    experiment_id = new_experiment(client, writer, tags=[{"key": "team", "value": "a"}])
    got = client.get(f"{API}/experiments/get", params={"experiment_id": experiment_id},
                     headers=writer).json()["experiment"]
    assert got["experiment_id"] == experiment_id
    assert got["artifact_location"] == f"mlflow-artifacts:/{experiment_id}"
    assert got["lifecycle_stage"] == "active" and got["tags"] == [{"key": "team", "value": "a"}]
    assert isinstance(got["creation_time"], int)
    by_name = client.get(f"{API}/experiments/get-by-name",
                         params={"experiment_name": got["name"]}, headers=writer)
    assert by_name.json()["experiment"]["experiment_id"] == experiment_id

    body = {"experiment_id": experiment_id, "key": "stage", "value": "dev"}
    assert client.post(f"{API}/experiments/set-experiment-tag", json=body,
                       headers=writer).status_code == 200
    client.post(f"{API}/experiments/delete-experiment-tag",
                json={"experiment_id": experiment_id, "key": "team"}, headers=writer)
    renamed = unique("renamed")
    client.post(f"{API}/experiments/update",
                json={"experiment_id": experiment_id, "new_name": renamed}, headers=writer)
    got = client.get(f"{API}/experiments/get", params={"experiment_id": experiment_id},
                     headers=writer).json()["experiment"]
    assert got["name"] == renamed and got["tags"] == [{"key": "stage", "value": "dev"}]


def test_experiment_errors_use_mlflow_codes(client: TestClient, writer: dict[str, str],
                                            tenant: Actors):
    name = unique("dup")
    client.post(f"{API}/experiments/create", json={"name": name}, headers=writer)
    again = client.post(f"{API}/experiments/create", json={"name": name}, headers=writer)
    assert again.status_code == 400
    assert again.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    missing = client.get(f"{API}/experiments/get", params={"experiment_id": "nope"},
                         headers=writer)
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    no_name = client.post(f"{API}/experiments/create", json={}, headers=writer)
    assert no_name.status_code == 400
    assert no_name.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "name" in no_name.json()["message"]
    bad_json = client.post(f"{API}/experiments/create", content=b"{not json",
                           headers={**writer, "Content-Type": "application/json"})
    assert bad_json.status_code == 400
    unknown = client.post(f"{API}/no/such/endpoint", json={}, headers=writer)
    assert unknown.status_code == 404 and unknown.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    viewer = client.post(f"{API}/experiments/create", json={"name": unique("v")},
                         headers=tenant.headers("viewer"))
    assert viewer.status_code == 403 and viewer.json()["error_code"] == "PERMISSION_DENIED"


def test_experiment_search_filters_orders_and_pages(client: TestClient, tenant: Actors):
    headers = tenant.headers("data_scientist")
    prefix = unique("srch")
    ids = [new_experiment(client, headers, name=f"{prefix}-{i}",
                          tags=[{"key": "i", "value": str(i)}]) for i in range(3)]
    body = {"filter": f"name LIKE '{prefix}-%'", "order_by": ["name DESC"], "max_results": 2}
    first = client.post(f"{API}/experiments/search", json=body, headers=headers).json()
    assert [e["experiment_id"] for e in first["experiments"]] == [ids[2], ids[1]]
    rest = client.post(f"{API}/experiments/search",
                       json={**body, "page_token": first["next_page_token"]},
                       headers=headers).json()
    assert [e["experiment_id"] for e in rest["experiments"]] == [ids[0]]
    assert "next_page_token" not in rest
    tagged = client.post(f"{API}/experiments/search",
                         json={"filter": f"tags.i = '1' and name ILIKE '{prefix.upper()}%'"},
                         headers=headers).json()
    assert [e["experiment_id"] for e in tagged["experiments"]] == [ids[1]]
    bad = client.post(f"{API}/experiments/search", json={"filter": "colour = 'red'"},
                      headers=headers)
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_run_lifecycle_logging_and_shapes(client: TestClient, writer: dict[str, str]):
    experiment_id = new_experiment(client, writer)
    run = new_run(client, writer, experiment_id, run_name="r1", start_time="1700000000000",
                  tags=[{"key": "t", "value": "v"}])
    run_id = run["info"]["run_id"]
    assert run["info"]["run_uuid"] == run_id and run["info"]["status"] == "RUNNING"
    assert run["info"]["artifact_uri"] == f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"
    assert run["info"]["start_time"] == 1_700_000_000_000

    ok = [
        ("log-metric", {"run_id": run_id, "key": "loss", "value": 0.5, "timestamp": "5",
                        "step": "2"}),
        ("log-metric", {"run_uuid": run_id, "key": "odd", "value": "NaN", "timestamp": 6}),
        ("log-parameter", {"run_id": run_id, "key": "lr", "value": "0.1"}),
        ("log-parameter", {"run_id": run_id, "key": "lr", "value": "0.1"}),
        ("set-tag", {"run_id": run_id, "key": "gone", "value": "x"}),
        ("delete-tag", {"run_id": run_id, "key": "gone"}),
        ("log-batch", {"run_id": run_id, "metrics": [
            {"key": "acc", "value": 0.9, "timestamp": 7, "step": 1}],
            "params": [{"key": "depth", "value": "3"}], "tags": [{"key": "b", "value": "c"}]}),
        ("log-inputs", {"run_id": run_id, "datasets": [{
            "tags": [{"key": "mlflow.data.context", "value": "train"}],
            "dataset": {"name": "iris", "digest": "abc123", "source_type": "local",
                        "source": '{"uri": "/tmp/iris.csv"}', "schema": "{}"}}]}),
    ]
    for endpoint, body in ok:
        response = client.post(f"{API}/runs/{endpoint}", json=body, headers=writer)
        assert response.status_code == 200, (endpoint, response.text)
        assert response.json() == {}
    finished = client.post(f"{API}/runs/update", json={
        "run_id": run_id, "status": "FINISHED", "end_time": 1_700_000_100_000,
        "run_name": "renamed"}, headers=writer).json()["run_info"]
    assert finished["status"] == "FINISHED" and finished["end_time"] == 1_700_000_100_000

    got = client.get(f"{API}/runs/get", params={"run_id": run_id}, headers=writer).json()["run"]
    data = got["data"]
    metrics = {m["key"]: m["value"] for m in data["metrics"]}
    assert metrics == {"loss": 0.5, "odd": "NaN", "acc": 0.9}
    assert {p["key"]: p["value"] for p in data["params"]} == {"lr": "0.1", "depth": "3"}
    tags = {t["key"]: t["value"] for t in data["tags"]}
    assert tags["t"] == "v" and tags["b"] == "c" and "gone" not in tags
    assert tags["mlflow.runName"] == "renamed" and got["info"]["run_name"] == "renamed"
    dataset_input = got["inputs"]["dataset_inputs"][0]
    assert dataset_input["dataset"]["name"] == "iris"
    assert dataset_input["tags"] == [{"key": "mlflow.data.context", "value": "train"}]

    history = client.get(f"{API}/metrics/get-history",
                         params={"run_id": run_id, "metric_key": "odd"}, headers=writer).json()
    assert history["metrics"][0]["value"] == "NaN" and history["metrics"][0]["timestamp"] == 6
    assert math.isnan(float(history["metrics"][0]["value"]))


def test_run_write_errors_and_limits(client: TestClient, writer: dict[str, str]):
    experiment_id = new_experiment(client, writer)
    run_id = new_run(client, writer, experiment_id)["info"]["run_id"]
    client.post(f"{API}/runs/log-parameter", json={"run_id": run_id, "key": "p", "value": "1"},
                headers=writer)
    changed = client.post(f"{API}/runs/log-parameter",
                          json={"run_id": run_id, "key": "p", "value": "2"}, headers=writer)
    assert changed.status_code == 400
    assert changed.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    limits = [
        {"metrics": [{"key": "m", "value": 1, "timestamp": 1}] * 1001},
        {"params": [{"key": f"p{i}", "value": "v"} for i in range(101)]},
        {"tags": [{"key": f"t{i}", "value": "v"} for i in range(101)]},
    ]
    for body in limits:
        response = client.post(f"{API}/runs/log-batch", json={"run_id": run_id, **body},
                               headers=writer)
        assert response.status_code == 400, response.text
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    bad = [
        ("log-metric", {"run_id": run_id, "key": "m", "value": "high", "timestamp": 1}),
        ("log-metric", {"run_id": run_id, "key": "m", "value": 1, "step": "x"}),
        ("log-metric", {"run_id": run_id, "key": "../m", "value": 1}),
        ("log-metric", {"key": "m", "value": 1}),
        ("set-tag", {"run_id": run_id, "key": "k", "value": "x" * 8001}),
        # a batch checks each distinct key once: a key that is no string is still refused,
        # and a bad key after a good one fails the whole batch
        ("log-batch", {"run_id": run_id, "metrics": [
            {"key": "m", "value": 1, "timestamp": 1}, {"key": ["m"], "value": 1, "timestamp": 1}]}),
        ("log-batch", {"run_id": run_id, "metrics": [
            {"key": "ok", "value": 1, "timestamp": 1},
            {"key": "../m", "value": 1, "timestamp": 1}]}),
    ]
    for endpoint, body in bad:
        response = client.post(f"{API}/runs/{endpoint}", json=body, headers=writer)
        assert response.status_code == 400, (endpoint, response.text)
    missing = client.post(f"{API}/runs/log-metric",
                          json={"run_id": "0" * 32, "key": "m", "value": 1}, headers=writer)
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"

    client.post(f"{API}/runs/delete", json={"run_id": run_id}, headers=writer)
    refused = client.post(f"{API}/runs/log-metric",
                          json={"run_id": run_id, "key": "m", "value": 1}, headers=writer)
    assert refused.status_code == 400
    client.post(f"{API}/runs/restore", json={"run_id": run_id}, headers=writer)
    assert client.post(f"{API}/runs/log-metric", json={"run_id": run_id, "key": "m", "value": 1},
                       headers=writer).status_code == 200


def test_log_batch_reads_proto3_json_forms_and_refuses_each_bad_field(
    client: TestClient, writer: dict[str, str]
):
    experiment_id = new_experiment(client, writer)
    run_id = new_run(client, writer, experiment_id)["info"]["run_id"]
    given = [  # (item, the value, step and timestamp stored; None: the time of the call)
        ({"key": "f", "value": 0.5, "timestamp": 7, "step": 1}, 0.5, 1, 7),
        ({"key": "i", "value": 3, "timestamp": "8"}, 3.0, 0, 8),
        ({"key": "nan", "value": "NaN", "timestamp": 9, "step": "2"}, "NaN", 2, 9),
        ({"key": "inf", "value": "Infinity", "timestamp": 10, "step": 4.0}, "Infinity", 4, 10),
        ({"key": "ninf", "value": "-Infinity", "timestamp": ""}, "-Infinity", 0, None),
        ({"key": "text", "value": "1.25"}, 1.25, 0, None),
    ]
    response = client.post(f"{API}/runs/log-batch", json={
        "run_id": run_id, "metrics": [item for item, *_ in given]}, headers=writer)
    assert response.status_code == 200, response.text
    for item, value, step, timestamp in given:
        stored = client.get(f"{API}/metrics/get-history", headers=writer, params={
            "run_id": run_id, "metric_key": item["key"]}).json()["metrics"]
        assert [(m["value"], m["step"]) for m in stored] == [(value, step)], item
        if timestamp is None:
            assert stored[0]["timestamp"] > 1_700_000_000_000, item
        else:
            assert stored[0]["timestamp"] == timestamp, item

    # -(2**63) - 1 reaches the server as a float that rounds to -2**63: still refused
    bad = [{"value": True}, {"value": "high"}, {"value": None}, {"value": 10**400},
           {"step": 1.5}, {"step": 2**63}, {"step": -(2**63) - 1}, {"step": "two"},
           {"step": [1]}, {"step": False}, {"step": []},
           {"timestamp": True}, {"timestamp": 2**64}, {"timestamp": 1.5}]
    for fields in bad:
        metric = {"key": "refused", "value": 1.0, "timestamp": 1, "step": 0, **fields}
        response = client.post(f"{API}/runs/log-batch", json={
            "run_id": run_id, "metrics": [{"key": "refused", "value": 2.0}, metric]},
            headers=writer)
        assert response.status_code == 400, (fields, response.text)
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE", fields
    history = client.get(f"{API}/metrics/get-history", headers=writer,
                         params={"run_id": run_id, "metric_key": "refused"}).json()
    assert history.get("metrics", []) == []  # each refused batch wrote nothing


def test_default_experiment_and_run_search(
    client: TestClient, writer: dict[str, str], tenant: Actors
):
    # A reader cannot bring the Default experiment into being; a writer's first run does.
    unborn = client.get(f"{API}/experiments/get", params={"experiment_id": "0"},
                        headers=tenant.headers("viewer"))
    assert unborn.status_code == 404
    run = new_run(client, writer, "0")
    default = client.get(f"{API}/experiments/get", params={"experiment_id": "0"},
                         headers=writer).json()["experiment"]
    assert default["name"] == "Default"
    assert run["info"]["experiment_id"] == default["experiment_id"]

    experiment_id = new_experiment(client, writer)
    for i in range(5):
        run_id = new_run(client, writer, experiment_id, run_name=f"r{i}")["info"]["run_id"]
        client.post(f"{API}/runs/log-batch", json={
            "run_id": run_id, "metrics": [{"key": "acc", "value": i / 10, "timestamp": 1}],
            "params": [{"key": "i", "value": str(i)}]}, headers=writer)
    body = {"experiment_ids": [experiment_id], "filter": "metrics.acc >= 0.1",
            "order_by": ["metrics.acc DESC"], "max_results": 3}
    first = client.post(f"{API}/runs/search", json=body, headers=writer).json()
    assert [r["info"]["run_name"] for r in first["runs"]] == ["r4", "r3", "r2"]
    rest = client.post(f"{API}/runs/search", json={**body, "page_token": first["next_page_token"]},
                       headers=writer).json()
    assert [r["info"]["run_name"] for r in rest["runs"]] == ["r1"]
    by_param = client.post(f"{API}/runs/search", json={
        "experiment_ids": [experiment_id], "filter": "params.i = '2'"}, headers=writer).json()
    assert [r["info"]["run_name"] for r in by_param["runs"]] == ["r2"]
    bad = client.post(f"{API}/runs/search", json={"experiment_ids": [experiment_id],
                                                  "filter": "metrics.acc >"}, headers=writer)
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    bad_view = client.post(f"{API}/runs/search", json={"run_view_type": "SOME"}, headers=writer)
    assert bad_view.status_code == 400


def test_search_runs_filters_on_the_datasets_runs_logged_or_trained_on(
        client: TestClient, writer: dict[str, str]):
    experiment_id = new_experiment(client, writer)
    logged = {}
    for name, digest, context in (("iris", "d1", "training"), ("wine", "d2", "eval")):
        run_id = new_run(client, writer, experiment_id, run_name=name)["info"]["run_id"]
        response = client.post(f"{API}/runs/log-inputs", json={"run_id": run_id, "datasets": [{
            "tags": [{"key": "mlflow.data.context", "value": context}],
            "dataset": {"name": name, "digest": digest, "source_type": "local",
                        "source": "{}"}}]}, headers=writer)
        assert response.status_code == 200, response.text
        logged[name] = run_id
    csv = "x,label\n" + "\n".join(f"{i},{i % 2}" for i in range(20))
    dataset = client.post("/api/v1/datasets", headers=writer, data={"name": unique("churn")},
                          files={"file": ("churn.csv", csv.encode(), "text/csv")})
    assert dataset.status_code == 201, dataset.text
    trained = client.post("/api/v1/runs", json={
        "experiment_id": experiment_id, "name": "trained", "dataset_id": dataset.json()["id"],
    }, headers=writer)
    assert trained.status_code == 201, trained.text
    new_run(client, writer, experiment_id, run_name="none")

    def names(text: str) -> list[str]:
        response = client.post(f"{API}/runs/search", json={
            "experiment_ids": [experiment_id], "filter": text,
            "order_by": ["attributes.run_name"]}, headers=writer)
        assert response.status_code == 200, (text, response.text)
        return [run["info"]["run_name"] for run in response.json().get("runs", [])]

    churn = dataset.json()["name"]
    assert names("dataset.name = 'iris'") == ["iris"]
    assert names("datasets.digest = 'd2'") == ["wine"]
    assert names("dataset.context = 'eval'") == ["wine"]
    assert names("dataset.context IN ('training', 'eval')") == ["iris", "wine"]
    assert names("dataset.name LIKE 'i%'") == ["iris"]
    assert names("dataset.name ILIKE 'WI%'") == ["wine"]
    assert names("dataset.name != 'iris'") == ["trained", "wine"]
    assert names(f"dataset.name = '{churn}'") == ["trained"]
    assert names(f"dataset.digest = '{dataset.json()['sha256']}'") == ["trained"]
    assert names("dataset.name = 'iris' and dataset.context = 'eval'") == []
    assert names("dataset.name = 'absent'") == []
    bad = client.post(f"{API}/runs/search", json={
        "experiment_ids": [experiment_id], "filter": "dataset.source = 'x'"}, headers=writer)
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_authentication_bearer_basic_and_401_format(client: TestClient, tenant: Actors):
    missing = client.get(f"{API}/experiments/get", params={"experiment_id": "0"})
    assert missing.status_code == 401
    assert missing.json()["error_code"] == "UNAUTHENTICATED"
    assert "Basic" in missing.headers["WWW-Authenticate"]
    email = tenant.emails["data_scientist"]
    for _ in range(2):  # the second request is answered from the verified-credential cache
        ok = client.post(f"{API}/experiments/create", json={"name": unique("basic")},
                         headers=basic(email))
        assert ok.status_code == 200, ok.text
    wrong = client.get(f"{API}/experiments/get", params={"experiment_id": "0"},
                       headers=basic(email, "wrong-password-123"))
    assert wrong.status_code == 401 and wrong.json()["error_code"] == "UNAUTHENTICATED"
    garbage = client.get(f"{API}/experiments/get", params={"experiment_id": "0"},
                         headers={"Authorization": "Basic !!!"})
    assert garbage.status_code == 401
    nul = client.get(f"{API}/experiments/get", params={"experiment_id": "0"},
                     headers=basic(email.replace("@", "\x00@")))  # no account: 401 everywhere
    assert nul.status_code == 401 and nul.json()["error_code"] == "UNAUTHENTICATED", nul.text
    viewer = basic(tenant.emails["viewer"])
    assert client.post(f"{API}/experiments/search", json={}, headers=viewer).status_code == 200
    denied = client.post(f"{API}/experiments/create", json={"name": unique("x")}, headers=viewer)
    assert denied.status_code == 403


def test_tenants_are_isolated(client: TestClient, tenant: Actors, other_tenant: Actors):
    mine = tenant.headers("data_scientist")
    theirs = other_tenant.headers("tenant_admin")
    experiment_id = new_experiment(client, mine)
    run_id = new_run(client, mine, experiment_id)["info"]["run_id"]
    path = f"{experiment_id}/{run_id}/artifacts/secret.txt"
    assert client.put(f"{ARTIFACTS}/{path}", content=b"s3cret", headers=mine).status_code == 200
    attempts = [
        client.get(f"{API}/experiments/get", params={"experiment_id": experiment_id},
                   headers=theirs),
        client.get(f"{API}/runs/get", params={"run_id": run_id}, headers=theirs),
        client.post(f"{API}/runs/log-metric", json={"run_id": run_id, "key": "m", "value": 1},
                    headers=theirs),
        client.post(f"{API}/runs/delete", json={"run_id": run_id}, headers=theirs),
        client.get(f"{ARTIFACTS}/{path}", headers=theirs),
        client.get(ARTIFACTS, params={"path": f"{experiment_id}/{run_id}/artifacts"},
                   headers=theirs),
        client.put(f"{ARTIFACTS}/{path}", content=b"overwrite", headers=theirs),
        client.delete(f"{ARTIFACTS}/{path}", headers=theirs),
    ]
    assert [r.status_code for r in attempts] == [404] * len(attempts)
    searched = client.post(f"{API}/runs/search", json={"experiment_ids": [experiment_id]},
                           headers=theirs).json()
    assert searched.get("runs", []) == []
    assert client.get(f"{ARTIFACTS}/{path}", headers=mine).content == b"s3cret"


def test_artifact_proxy_round_trip(client: TestClient, writer: dict[str, str], tenant: Actors):
    experiment_id = new_experiment(client, writer)
    run_id = new_run(client, writer, experiment_id)["info"]["run_id"]
    root = f"{experiment_id}/{run_id}/artifacts"
    for path, content in [("a.txt", b"A"), ("dir/b.txt", b"BB"), ("dir/sub/c.txt", b"CCC")]:
        response = client.put(f"{ARTIFACTS}/{root}/{path}", content=content, headers=writer)
        assert response.status_code == 200, response.text
    listed = client.get(ARTIFACTS, params={"path": root}, headers=writer).json()["files"]
    assert listed == [{"path": "a.txt", "is_dir": False, "file_size": 1},
                      {"path": "dir", "is_dir": True}]
    inner = client.get(ARTIFACTS, params={"path": f"{root}/dir"}, headers=writer).json()
    assert inner["files"] == [{"path": "b.txt", "is_dir": False, "file_size": 2},
                              {"path": "sub", "is_dir": True}]
    assert client.get(f"{ARTIFACTS}/{root}/dir/sub/c.txt", headers=writer).content == b"CCC"
    native = client.get(f"/api/v1/runs/{run_id}/artifacts", headers=writer).json()
    assert {item["path"] for item in native["items"]} == {"a.txt", "dir/b.txt", "dir/sub/c.txt"}
    assert client.delete(f"{ARTIFACTS}/{root}/dir", headers=writer).status_code == 200
    after = client.get(ARTIFACTS, params={"path": root}, headers=writer).json()["files"]
    assert [f["path"] for f in after] == ["a.txt"]
    assert client.get(f"{ARTIFACTS}/{root}/dir/b.txt", headers=writer).status_code == 404
    viewer_put = client.put(f"{ARTIFACTS}/{root}/v.txt", content=b"x",
                            headers=tenant.headers("viewer"))
    assert viewer_put.status_code == 403
    traversal = client.put(f"{ARTIFACTS}/{root}/..%2F..%2Fescape.txt", content=b"x",
                           headers=writer)
    assert traversal.status_code == 400
    assert traversal.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_logged_model_style_paths_outside_runs(client: TestClient, writer: dict[str, str]):
    experiment_id = new_experiment(client, writer)
    root = f"{experiment_id}/models/m-{unique('m')}/artifacts"
    assert client.put(f"{ARTIFACTS}/{root}/MLmodel", content=b"flavors: {}",
                      headers=writer).status_code == 200
    listed = client.get(ARTIFACTS, params={"path": root}, headers=writer).json()["files"]
    assert listed == [{"path": "MLmodel", "is_dir": False, "file_size": 11}]
    assert client.get(f"{ARTIFACTS}/{root}/MLmodel", headers=writer).content == b"flavors: {}"


HOSTILE = [
    "' OR '1'='1", "1; DROP TABLE runs; --", "<script>alert(1)</script>", "../../etc/passwd",
    "\u0000", "%", "x" * 5000, "NaN", "-1", "metrics.a > 1 OR 1=1", "`", "tags.`x",
]
FIELDS = ["experiment_id", "experiment_name", "run_id", "run_uuid", "key", "value", "name",
          "new_name", "filter", "page_token", "metric_key", "path", "status", "run_name",
          "view_type", "run_view_type", "max_results"]


def test_hostile_strings_in_every_field_of_every_mlflow_route_are_4xx(
    client: TestClient, tenant: Actors
):
    from maestro_ml.api.app import api_routes

    headers = tenant.headers("tenant_admin")
    routes = [(m, p) for m, p, _ in api_routes(client.app)
              if p.startswith((API, ARTIFACTS)) and "{" not in p
              and p.split("/")[4] in ("experiments", "runs", "metrics", "artifacts")]
    assert len(routes) >= 20
    for method, path in routes:
        for text in HOSTILE:
            fields = dict.fromkeys(FIELDS, text)
            if method == "GET":  # one field at a time: a URL must stay short
                fields = {"run_id": text, "experiment_id": text, "filter": text, "path": text}
                response = client.get(path, params=fields, headers=headers)
            else:
                response = client.request(method, path, json=fields, headers=headers)
            assert response.status_code < 500, (method, path, text[:30], response.text)
            assert "error_code" in response.json() or response.status_code == 200
