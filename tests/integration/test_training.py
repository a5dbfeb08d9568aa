"""Training end to end: POST an experiment with a target, the in-process worker trains in a
subprocess, and the job, run and registered model version tell the result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from maestro_ml.bootstrap import Container
from maestro_ml.ml.model_io import load_model
from tests.factories import Actors, make_tenant
from tests.integration.training_setup import (
    QUICK_FOREST,
    breast_cancer_csv,
    breast_cancer_frame,
    create_model,
    job_logs,
    start_training,
    upload,
    wait_for_job,
)


@pytest.fixture(scope="module")
def lab(client: TestClient, root_token: str) -> dict[str, Any]:
    """One tenant with the breast-cancer dataset, shared by the (slow) training tests."""
    actors = make_tenant(client, root_token)
    dataset = upload(client, actors, breast_cancer_csv(), "cancer.csv")
    assert dataset.status_code == 201, dataset.text
    return {"actors": actors, "dataset": dataset.json()}


def get(client: TestClient, actors: Actors, path: str) -> dict[str, Any]:
    response = client.get(path, headers=actors.headers("viewer"))
    assert response.status_code == 200, response.text
    return response.json()


def test_mistakes_visible_from_the_dataset_are_refused_before_anything_is_queued(
    client: TestClient, lab: dict[str, Any]
):
    actors, dataset = lab["actors"], lab["dataset"]
    model = create_model(client, actors)
    cases = {
        "unknown estimator 'RandomJungle'": ({"estimator": "RandomJungle"}, "target"),
        "unknown hyper-parameter(s) for RandomForestClassifier: n_trees": (
            {"estimator": "RandomForestClassifier", "n_trees": 3}, "target"),
        "target column 'diagnosis' is not in dataset": (QUICK_FOREST, "diagnosis"),
    }
    before = client.get("/api/v1/jobs", headers=actors.headers()).json()["items"]
    for message, (parameters, target) in cases.items():
        response = client.post("/api/v1/experiments", headers=actors.headers("data_scientist"),
                               json={"model_id": model["id"], "dataset_id": dataset["id"],
                                     "target": target, "parameters": parameters})
        assert response.status_code == 422, response.text
        assert message in response.json()["detail"]
    after = client.get("/api/v1/jobs", headers=actors.headers()).json()["items"]
    assert len(after) == len(before)  # nothing queued, no experiment or run left behind


def test_user_errors_fail_their_job_and_the_worker_trains_the_next_one(
    client: TestClient, lab: dict[str, Any], container: Container
):
    actors, dataset = lab["actors"], lab["dataset"]
    model = create_model(client, actors)
    # XGBoost cannot take a string column: only the training process finds out.
    rows = ["plan,tenure,churned"] + [
        f"{'pro' if i % 3 else 'basic'},{i % 17},{int(i % 5 > 2)}" for i in range(80)
    ]
    mixed = upload(client, actors, ("\n".join(rows) + "\n").encode(), "mixed.csv")
    assert mixed.status_code == 201, mixed.text
    bad = {
        "plan": start_training(client, actors, model["id"], mixed.json()["id"],
                               {"estimator": "XGBClassifier", "n_estimators": 5},
                               target="churned"),
    }
    good = start_training(client, actors, model["id"], dataset["id"],
                          {"estimator": "RandomForestClassifier", "n_estimators": 50})

    for message, experiment in bad.items():
        job = wait_for_job(client, actors, experiment["job_id"])
        assert job["status"] == "failed", job
        assert message in job["error"] and job["error_code"] == "training_error"
        assert job["attempts"] == 1  # the user's mistake is not retried
        run = get(client, actors, f"/api/v1/runs/{experiment['run_id']}")
        assert run["status"] == "FAILED" and run["end_time"] is not None
    job = wait_for_job(client, actors, good["job_id"])

    assert job["status"] == "succeeded", job
    assert job["progress"] == 1.0 and job["attempts"] == 1
    result = job["result"]
    assert result["model_id"] == model["id"] and result["version"] == 1
    assert result["metrics"]["accuracy"] > 0.9
    version = get(client, actors, f"/api/v1/models/{model['id']}/versions/1")
    assert version["id"] == result["model_version_id"]
    assert version["metrics"]["accuracy"] == result["metrics"]["accuracy"] > 0.9
    assert (version["format"], version["framework"]) == ("skops", "sklearn")
    assert len(version["signature"]["inputs"]) == 30
    assert version["signature"]["outputs"] == [{"name": "target", "type": "long"}]
    assert version["run_id"] == good["run_id"] and version["dataset_id"] == dataset["id"]

    run = get(client, actors, f"/api/v1/runs/{good['run_id']}")
    assert run["status"] == "FINISHED" and run["end_time"] >= run["start_time"]
    assert run["job_id"] == good["job_id"] and run["dataset_id"] == dataset["id"]
    assert run["experiment_id"] == good["id"]
    assert run["metrics"]["accuracy"] == result["metrics"]["accuracy"]
    assert {"roc_auc", "f1", "log_loss"} <= set(run["metrics"])
    assert run["params"] == {"estimator": "RandomForestClassifier", "n_estimators": "50",
                             "target": "target", "task": "classification"}
    assert good["model_id"] == model["id"] and good["dataset_id"] == dataset["id"]

    messages = [line["message"] for line in job_logs(client, actors, good["job_id"])]
    assert messages[0].startswith("Attempt 1 of 3 started")
    assert any(m.startswith("Validation metrics: accuracy=") for m in messages)


def test_registered_files_load_and_predict(
    client: TestClient, lab: dict[str, Any], container: Container, tmp_path: Path
):
    actors, dataset = lab["actors"], lab["dataset"]
    model = create_model(client, actors)
    experiment = start_training(client, actors, model["id"], dataset["id"])
    job = wait_for_job(client, actors, experiment["job_id"])
    assert job["status"] == "succeeded", job

    prefix = container.artifacts.tenant_key(actors.tenant_id, f"models/{model['id']}/v1")
    loaded = load_model(container.artifacts.download_dir(prefix, tmp_path / "model"))
    rows = breast_cancer_frame().drop(columns="target").head(5).to_dict(orient="records")

    output = loaded.predict(rows)

    assert output.classes == [0, 1] and len(output.predictions) == 5
    assert output.predictions == breast_cancer_frame()["target"].head(5).tolist()


def test_xgboost_lightgbm_and_ridge_train_and_register(
    client: TestClient, lab: dict[str, Any]
):
    actors, dataset = lab["actors"], lab["dataset"]
    classifier = create_model(client, actors)
    regressor = create_model(client, actors, task="regression")
    started = {
        ("xgboost", "xgboost-json"): start_training(
            client, actors, classifier["id"], dataset["id"],
            {"estimator": "XGBClassifier", "n_estimators": 20}),
        ("lightgbm", "lightgbm-text"): start_training(
            client, actors, classifier["id"], dataset["id"],
            {"estimator": "LGBMClassifier", "n_estimators": 20}),
        ("sklearn", "skops"): start_training(
            client, actors, regressor["id"], dataset["id"], target="mean area",
            parameters={"estimator": "Ridge", "alpha": 0.5}),
    }

    for (framework, fmt), experiment in started.items():
        job = wait_for_job(client, actors, experiment["job_id"])
        assert job["status"] == "succeeded", job
        result = job["result"]
        version = get(client, actors,
                      f"/api/v1/models/{result['model_id']}/versions/{result['version']}")
        assert (version["framework"], version["format"]) == (framework, fmt)
        if framework == "sklearn":
            assert result["metrics"]["r2"] > 0.9 and "rmse" in result["metrics"]
        else:
            assert result["metrics"]["accuracy"] > 0.9
    versions = get(client, actors, f"/api/v1/models/{classifier['id']}/versions")
    assert sorted(v["version"] for v in versions["items"]) == [1, 2]


def test_start_refuses_bad_requests_and_writes_nothing(
    client: TestClient, lab: dict[str, Any], other_tenant: Actors
):
    actors, dataset = lab["actors"], lab["dataset"]
    model = create_model(client, actors)
    foreign = create_model(client, other_tenant)
    name = "refused-" + model["id"][:8]

    def start(**changes: Any) -> Any:
        body = {"name": name, "model_id": model["id"], "dataset_id": dataset["id"],
                "target": "target", "parameters": {"estimator": "LogisticRegression"}, **changes}
        return client.post("/api/v1/experiments", json=body,
                           headers=actors.headers("data_scientist"))

    no_estimator = start(parameters={"n_estimators": 10})
    assert no_estimator.status_code == 422
    assert "parameters.estimator is required" in no_estimator.json()["detail"]
    assert start(model_id=None).status_code == 422
    assert "model_id is required" in start(model_id=None).json()["detail"]
    assert start(task="clustering").status_code == 422
    wrong_task = start(parameters={"estimator": "Ridge"})  # regression on a classifier
    assert wrong_task.status_code == 422 and "regression estimator" in wrong_task.json()["detail"]
    assert start(validation_fraction=1.5).status_code == 422
    assert start(model_id=foreign["id"]).status_code == 404  # another tenant's: not there
    assert start(dataset_id="0" * 32).status_code == 404
    assert client.get("/api/v1/experiments", params={"name": name},
                      headers=actors.headers()).json()["items"] == []
    started = start()
    assert started.status_code == 201
    client.post(f"/api/v1/jobs/{started.json()['job_id']}/cancel", headers=actors.headers())
    taken = start()
    assert taken.status_code == 409 and "experiment_id" in taken.json()["detail"]


def test_training_in_an_existing_experiment_uses_its_model_and_dataset(
    client: TestClient, lab: dict[str, Any]
):
    actors, dataset = lab["actors"], lab["dataset"]
    model = create_model(client, actors)
    experiment = client.post("/api/v1/experiments", headers=actors.headers("data_scientist"),
                             json={"model_id": model["id"], "dataset_id": dataset["id"]}).json()

    response = client.post(f"/api/v1/experiments/{experiment['id']}/train",
                           headers=actors.headers("data_scientist"),
                           json={"target": "target",
                                 "parameters": {"estimator": "LogisticRegression"}})

    assert response.status_code == 202, response.text
    started = response.json()
    assert started["experiment_id"] == experiment["id"]
    run = get(client, actors, f"/api/v1/runs/{started['run_id']}")
    assert run["experiment_id"] == experiment["id"] and run["dataset_id"] == dataset["id"]
    assert run["job_id"] == started["job_id"] and run["status"] in {"SCHEDULED", "RUNNING"}
    job = get(client, actors, f"/api/v1/jobs/{started['job_id']}")
    assert job["kind"] == "train" and job["run_id"] == started["run_id"]
    client.post(f"/api/v1/jobs/{started['job_id']}/cancel", headers=actors.headers())
