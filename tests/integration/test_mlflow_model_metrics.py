"""MLflow 3 logged models as runs' data over HTTP: values logged with a ``model_id`` are the
model's, searches test and order by them, a value logged again exactly shows once, and
runs answer the models they used and produced."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import Actors, unique

API = "/api/2.0/mlflow"


class Tracking:
    """One tenant's data scientist and viewer, speaking the MLflow protocol."""

    def __init__(self, client: TestClient, actors: Actors) -> None:
        self.client, self.actors = client, actors

    def post(self, path: str, body: dict[str, Any], role: str = "data_scientist") -> Any:
        return self.client.post(f"{API}/{path}", json=body, headers=self.actors.headers(role))

    def ok(self, path: str, body: dict[str, Any], role: str = "data_scientist") -> Any:
        response = self.post(path, body, role)
        assert response.status_code == 200, response.text
        return response.json()

    def experiment(self) -> str:
        return str(self.ok("experiments/create", {"name": unique("exp")})["experiment_id"])

    def run(self, experiment_id: str) -> str:
        created = self.ok("runs/create", {"experiment_id": experiment_id})
        return str(created["run"]["info"]["run_id"])

    def model(self, experiment_id: str, name: str, run_id: str) -> str:
        created = self.ok("logged-models", {"experiment_id": experiment_id, "name": name,
                                            "source_run_id": run_id})
        return str(created["model"]["info"]["model_id"])

    def metrics_of(self, model_id: str) -> list[dict[str, Any]]:
        got = self.client.get(f"{API}/logged-models/{model_id}",
                              headers=self.actors.headers("viewer"))
        assert got.status_code == 200, got.text
        return list(got.json()["model"]["data"]["metrics"])

    def history(self, run_id: str, key: str) -> list[tuple[float, int, int]]:
        got = self.client.get(f"{API}/metrics/get-history", params={"run_id": run_id,
                              "metric_key": key}, headers=self.actors.headers("viewer"))
        assert got.status_code == 200, got.text
        return [(m["value"], m["step"], m["timestamp"]) for m in got.json().get("metrics", [])]

    def search(self, experiment_id: str, **body: Any) -> list[str]:
        found = self.ok("logged-models/search", {"experiment_ids": [experiment_id], **body},
                        role="viewer")
        return [m["info"]["name"] for m in found["models"]]


@pytest.fixture
def mlflow_api(client: TestClient, tenant: Actors) -> Tracking:
    return Tracking(client, tenant)


def test_values_logged_with_a_model_id_are_the_models_and_the_runs(mlflow_api: Tracking):
    experiment_id = mlflow_api.experiment()
    run_id = mlflow_api.run(experiment_id)
    model_id = mlflow_api.model(experiment_id, "model", run_id)

    mlflow_api.ok("runs/log-metric", {"run_id": run_id, "key": "acc", "value": 0.9,
                                      "timestamp": 1000, "step": 0, "model_id": model_id})
    mlflow_api.ok("runs/log-batch", {"run_id": run_id, "metrics": [
        {"key": "acc", "value": 0.95, "timestamp": 2000, "step": 1, "model_id": model_id},
        {"key": "f1", "value": 0.8, "timestamp": 2000, "step": 1, "model_id": model_id,
         "dataset_name": "iris", "dataset_digest": "abc123"},
        {"key": "loss", "value": 0.3, "timestamp": 2000, "step": 1},
    ]})

    linked = sorted(mlflow_api.metrics_of(model_id), key=lambda m: (m["key"], m["step"]))
    assert linked == [
        {"key": "acc", "value": 0.9, "timestamp": 1000, "step": 0, "run_id": run_id,
         "model_id": model_id},
        {"key": "acc", "value": 0.95, "timestamp": 2000, "step": 1, "run_id": run_id,
         "model_id": model_id},
        {"key": "f1", "value": 0.8, "timestamp": 2000, "step": 1, "run_id": run_id,
         "model_id": model_id, "dataset_name": "iris", "dataset_digest": "abc123"},
    ]
    # The run holds every value too, linked or not.
    assert mlflow_api.history(run_id, "acc") == [(0.9, 0, 1000), (0.95, 1, 2000)]
    assert mlflow_api.history(run_id, "loss") == [(0.3, 1, 2000)]


def test_a_value_logged_again_exactly_shows_once(mlflow_api: Tracking):
    """A retried call that had landed, or a copy that links a model, adds nothing to the
    run's history (as MLflow's key on every column makes it); another value at the same
    step and time is a value of its own."""
    experiment_id = mlflow_api.experiment()
    run_id = mlflow_api.run(experiment_id)
    model_id = mlflow_api.model(experiment_id, "model", run_id)
    same = {"key": "acc", "value": 0.5, "timestamp": 1000, "step": 0}
    mlflow_api.ok("runs/log-metric", {"run_id": run_id, **same})
    mlflow_api.ok("runs/log-metric", {"run_id": run_id, **same})
    assert mlflow_api.history(run_id, "acc") == [(0.5, 0, 1000)]

    nan = {"key": "loss", "value": "NaN", "timestamp": 1000, "step": 0}
    mlflow_api.ok("runs/log-batch", {"run_id": run_id, "metrics": [nan]})
    mlflow_api.ok("runs/log-batch", {"run_id": run_id, "metrics": [
        {**same, "model_id": model_id}, {**same, "model_id": model_id},
        {**nan, "model_id": model_id},
        {**same, "value": 0.6, "model_id": model_id},  # another value: one of its own
        {**same, "timestamp": 1001},  # another time: likewise
    ]})
    assert mlflow_api.history(run_id, "acc") == [(0.5, 0, 1000), (0.6, 0, 1000), (0.5, 0, 1001)]
    assert [str(value) for value, _, _ in mlflow_api.history(run_id, "loss")] == ["NaN"]
    linked = sorted((m["key"], str(m["value"])) for m in mlflow_api.metrics_of(model_id))
    assert linked == [("acc", "0.5"), ("loss", "NaN")]  # one per (key, step, timestamp, run)


def test_history_pages_skip_copies_wherever_they_fall(mlflow_api: Tracking):
    run_id = mlflow_api.run(mlflow_api.experiment())
    values = [{"key": "loss", "value": 1.0 / (step + 1), "timestamp": 100 + step, "step": step}
              for step in range(7)]
    mlflow_api.ok("runs/log-batch", {"run_id": run_id, "metrics": values})
    mlflow_api.ok("runs/log-batch", {"run_id": run_id, "metrics": values[::-1]})  # all again
    mlflow_api.ok("runs/log-metric", {"run_id": run_id, **values[3]})
    mlflow_api.ok("runs/log-metric", {"run_id": run_id, **values[3], "value": 9.0})

    pages, token = [], None
    while True:
        got = mlflow_api.client.get(
            f"{API}/metrics/get-history", headers=mlflow_api.actors.headers("viewer"),
            params={"run_id": run_id, "metric_key": "loss", "max_results": 2,
                    **({"page_token": token} if token else {})})
        assert got.status_code == 200, got.text
        pages.append([(m["step"], m["value"]) for m in got.json().get("metrics", [])])
        token = got.json().get("next_page_token")
        if not token:
            break
    # A page ends inside step 3: the next one answers its other value, not the copies.
    steps = [[step for step, _ in page] for page in pages]
    assert steps == [[0, 1], [2, 3], [3, 4], [5, 6]]
    assert pages[1][1] == (3, 0.25) and pages[2][0] == (3, 9.0)


def test_the_client_logging_a_model_links_the_runs_values_once(mlflow_api: Tracking):
    """What ``mlflow.<flavor>.log_model`` does in a run: it logs the run's step-0 values
    again with the new model's id. The run shows one copy; the model gets them."""
    experiment_id = mlflow_api.experiment()
    run_id = mlflow_api.run(experiment_id)
    value = {"key": "acc", "value": 0.7, "timestamp": 5000, "step": 0}
    mlflow_api.ok("runs/log-metric", {"run_id": run_id, **value})
    model_id = mlflow_api.model(experiment_id, "model", run_id)
    mlflow_api.ok("runs/log-batch", {"run_id": run_id, "metrics": [
        {**value, "run_id": run_id, "model_id": model_id}]})
    mlflow_api.ok("runs/log-batch", {"run_id": run_id, "metrics": [
        {**value, "run_id": run_id, "model_id": model_id}]})  # a retry changes nothing

    assert mlflow_api.history(run_id, "acc") == [(0.7, 0, 5000)]
    assert [(m["key"], m["value"]) for m in mlflow_api.metrics_of(model_id)] == [("acc", 0.7)]


def test_searches_test_and_order_by_metrics(mlflow_api: Tracking):
    experiment_id = mlflow_api.experiment()
    run_id = mlflow_api.run(experiment_id)
    models = {name: mlflow_api.model(experiment_id, name, run_id)
              for name in ("strong", "weak", "unmeasured")}

    def log(name: str, key: str, value: float, timestamp: int, **dataset: str) -> None:
        mlflow_api.ok("runs/log-metric", {
            "run_id": run_id, "key": key, "value": value, "timestamp": timestamp,
            "model_id": models[name], **dataset})

    log("strong", "acc", 0.2, 1)  # an early value; the latest (0.9) is what orders
    log("strong", "acc", 0.9, 2)
    log("weak", "acc", 0.5, 3)
    log("strong", "f1", 0.8, 4, dataset_name="iris", dataset_digest="d1")
    log("weak", "f1", 0.7, 5, dataset_name="other")

    assert mlflow_api.search(experiment_id, filter="metrics.acc > 0.7") == ["strong"]
    assert sorted(mlflow_api.search(experiment_id, filter="metrics.acc < 0.3")) == ["strong"]
    assert mlflow_api.search(experiment_id, filter="metrics.acc >= 0.5 AND name = 'weak'") == [
        "weak"]
    assert mlflow_api.search(experiment_id, filter="metrics.missing > 0") == []

    ascending = [{"field_name": "metrics.acc", "ascending": True}]
    descending = [{"field_name": "metrics.acc", "ascending": False}]
    assert mlflow_api.search(experiment_id, order_by=ascending) == [
        "weak", "strong", "unmeasured"]
    assert mlflow_api.search(experiment_id, order_by=descending) == [
        "strong", "weak", "unmeasured"]

    iris = [{"dataset_name": "iris"}]
    assert mlflow_api.search(experiment_id, datasets=iris) == ["strong"]
    assert mlflow_api.search(experiment_id, datasets=[{"dataset_name": "iris",
                                                       "dataset_digest": "zz"}]) == []
    assert mlflow_api.search(experiment_id, filter="metrics.f1 > 0.5", datasets=[
        {"dataset_name": "other"}]) == ["weak"]
    on_iris = [{"field_name": "metrics.f1", "ascending": True, "dataset_name": "iris"}]
    assert mlflow_api.search(experiment_id, order_by=on_iris)[0] == "strong"

    # Pages of a metric order follow one another without gaps or repeats.
    seen, token = [], None
    while True:
        page = mlflow_api.ok("logged-models/search", {
            "experiment_ids": [experiment_id], "order_by": descending, "max_results": 1,
            **({"page_token": token} if token else {})}, role="viewer")
        seen += [m["info"]["name"] for m in page["models"]]
        token = page.get("next_page_token")
        if not token:
            break
    assert seen == ["strong", "weak", "unmeasured"]


@pytest.mark.parametrize("body", [
    {"filter": "metrics.acc > 'high'"},
    {"filter": "metrics.acc LIKE '0.%'"},
    {"order_by": [{"field_name": "params.C"}]},
    {"datasets": [{"dataset_digest": "d1"}]},
])
def test_bad_metric_searches_are_refused(mlflow_api: Tracking, body: dict[str, Any]):
    refused = mlflow_api.post("logged-models/search",
                              {"experiment_ids": [mlflow_api.experiment()], **body}, "viewer")
    assert refused.status_code == 400, refused.text
    assert refused.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_a_value_for_a_model_that_is_not_the_tenants_writes_nothing(
    client: TestClient, tenant: Actors, other_tenant: Actors
):
    mine, theirs = Tracking(client, tenant), Tracking(client, other_tenant)
    their_experiment = theirs.experiment()
    their_model = theirs.model(their_experiment, "theirs", theirs.run(their_experiment))
    run_id = mine.run(mine.experiment())

    for model_id in (their_model, "m-missing", "m-" + "x" * 70):
        refused = mine.post("runs/log-batch", {"run_id": run_id, "metrics": [
            {"key": "acc", "value": 0.1, "timestamp": 1, "step": 0},
            {"key": "acc", "value": 0.2, "timestamp": 2, "step": 0, "model_id": model_id},
        ], "params": [{"key": "p", "value": "1"}]})
        assert refused.status_code in (400, 404), refused.text
        expected = "INVALID_PARAMETER_VALUE" if len(model_id) > 64 else "RESOURCE_DOES_NOT_EXIST"
        assert refused.json()["error_code"] == expected

    assert mine.history(run_id, "acc") == []
    got = client.get(f"{API}/runs/get", params={"run_id": run_id},
                     headers=tenant.headers("viewer")).json()["run"]["data"]
    assert got["params"] == [] and got["metrics"] == []
    assert theirs.metrics_of(their_model) == []


def test_runs_answer_the_models_they_produced_and_used(
    client: TestClient, tenant: Actors, other_tenant: Actors
):
    mine = Tracking(client, tenant)
    experiment_id = mine.experiment()
    training, evaluation = mine.run(experiment_id), mine.run(experiment_id)
    first = mine.model(experiment_id, "first", training)
    second = mine.model(experiment_id, "second", training)
    mine.ok("runs/outputs", {"run_id": training, "models": [
        {"model_id": first, "step": 0}, {"model_id": second, "step": "5"}]})
    mine.ok("runs/outputs", {"run_id": training, "models": [{"model_id": first, "step": 9}]})
    mine.ok("runs/log-inputs", {"run_id": evaluation, "models": [{"model_id": first}]})

    def run_of(run_id: str) -> dict[str, Any]:
        got = client.get(f"{API}/runs/get", params={"run_id": run_id},
                         headers=tenant.headers("viewer"))
        assert got.status_code == 200, got.text
        return dict(got.json()["run"])

    produced = run_of(training)["outputs"]["model_outputs"]
    assert sorted((o["model_id"], o["step"]) for o in produced) == sorted(
        [(first, 0), (second, 5)])
    assert run_of(training)["inputs"]["model_inputs"] == []
    assert run_of(evaluation)["inputs"]["model_inputs"] == [{"model_id": first}]
    found = mine.ok("runs/search", {"experiment_ids": [experiment_id]}, role="viewer")
    outputs = {r["info"]["run_id"]: r["outputs"]["model_outputs"] for r in found["runs"]}
    assert len(outputs[training]) == 2 and outputs[evaluation] == []

    theirs = Tracking(client, other_tenant)
    their_experiment = theirs.experiment()
    their_model = theirs.model(their_experiment, "theirs", theirs.run(their_experiment))
    for path, body in (("runs/outputs", {"run_id": evaluation,
                                         "models": [{"model_id": their_model, "step": 0}]}),
                       ("runs/log-inputs", {"run_id": evaluation,
                                            "models": [{"model_id": their_model}]})):
        refused = mine.post(path, body)
        assert refused.status_code == 404, refused.text
        assert refused.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert run_of(evaluation)["outputs"]["model_outputs"] == []
    assert run_of(evaluation)["inputs"]["model_inputs"] == [{"model_id": first}]
    bad = mine.post("runs/outputs", {"run_id": evaluation, "models": [
        {"model_id": first, "step": "soon"}]})
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
