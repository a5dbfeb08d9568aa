"""The real ``mlflow`` client logging, registering and loading models on a live Maestro
server, and Maestro deploying what it registered: ``log_model`` -> ``register_model`` ->
aliases / stages / searches -> ``pyfunc.load_model("models:/name@alias")`` -> a Maestro
deployment whose predictions equal scikit-learn's."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import httpx
import mlflow
import mlflow.sklearn
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LogisticRegression

from tests.e2e.conftest import Server
from tests.factories import Actors, make_tenant

FRAME = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0, 0.5, 2.5, 1.2, 2.8],
                      "b": [1.0, 0.0, 1.0, 0.0, 0.3, 0.8, 0.6, 0.1]})
LABELS = [0, 0, 1, 1, 0, 1, 0, 1]
ROWS = [{"a": 0.2, "b": 0.1}, {"a": 2.9, "b": 0.4}, {"a": 1.6, "b": 0.9}, {"a": 1.1, "b": 0.2}]


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def use_key(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str], None]]:
    """Point the mlflow client at the server with the given API key."""

    def point(key: str) -> None:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", key)
        mlflow.set_tracking_uri(server.url)

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)
    yield point
    while mlflow.active_run():
        mlflow.end_run()


@pytest.fixture(scope="module")
def tenant_b(server: Server, root_token: str) -> Actors:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        return make_tenant(http, root_token)


@pytest.fixture(scope="module")
def own_tenant(server: Server, root_token: str) -> Actors:
    """A tenant of this module's own, so changing its pickle policy affects no other test."""
    with httpx.Client(base_url=server.url, timeout=30) as http:
        return make_tenant(http, root_token)


def log_and_register(model_name: str, estimator: LogisticRegression, **save: object) -> str:
    mlflow.set_experiment(name("mlflow-models"))
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(estimator, name="model", input_example=FRAME.head(2),
                                        **save)
    version = mlflow.register_model(info.model_uri, model_name)
    assert version.version == "1"
    again = mlflow.register_model(f"runs:/{run.info.run_id}/model", model_name)
    assert again.version == "2" and again.run_id == run.info.run_id
    return info.model_uri


def maestro(server: Server, actors: Actors, role: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers=actors.headers(role), timeout=120)


def test_registry_round_trip_with_the_real_client(
    server: Server, own_tenant: Actors, tenant_b: Actors, use_key: Callable[[str], None]
) -> None:
    use_key(own_tenant.keys["ml_engineer"])
    estimator = LogisticRegression().fit(FRAME, LABELS)
    model_name = name("churn")
    log_and_register(model_name, estimator)
    client = MlflowClient()

    client.set_registered_model_alias(model_name, "champion", "1")
    assert client.get_model_version_by_alias(model_name, "champion").version == "1"
    assert client.get_registered_model(model_name).aliases == {"champion": "1"}
    client.transition_model_version_stage(model_name, "2", "Staging")
    latest = {v.current_stage: v.version for v in client.get_latest_versions(model_name)}
    assert latest == {"None": "1", "Staging": "2"}
    found = client.search_model_versions(f"name='{model_name}'")
    assert sorted(v.version for v in found) == ["1", "2"]
    assert [m.name for m in client.search_registered_models(f"name LIKE '{model_name}%'")] == [
        model_name
    ]

    loaded = mlflow.pyfunc.load_model(f"models:/{model_name}@champion")
    assert list(loaded.predict(pd.DataFrame(ROWS))) == list(estimator.predict(pd.DataFrame(ROWS)))

    client.delete_registered_model_alias(model_name, "champion")
    with pytest.raises(MlflowException) as missing:
        client.get_model_version_by_alias(model_name, "champion")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    # Another tenant's client sees none of it.
    use_key(tenant_b.keys["ml_engineer"])
    other = MlflowClient()
    with pytest.raises(MlflowException) as hidden:
        other.get_registered_model(model_name)
    assert hidden.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert other.search_registered_models(f"name = '{model_name}'") == []
    assert all(v.name != model_name for v in other.search_model_versions(""))


def test_deploying_a_pickled_mlflow_model_follows_the_tenant_policy(
    server: Server, own_tenant: Actors, use_key: Callable[[str], None]
) -> None:
    use_key(own_tenant.keys["ml_engineer"])
    estimator = LogisticRegression().fit(FRAME, LABELS)
    model_name = name("pickled")
    log_and_register(model_name, estimator,
                     serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE)
    MlflowClient().set_registered_model_alias(model_name, "champion", "2")

    with maestro(server, own_tenant, "ml_engineer") as http:
        model_id = http.get("/api/v1/models", params={"name": model_name}).json()["items"][0]["id"]
        refused = http.post("/api/v1/deployments", json={"model_id": model_id, "version": 2})
        assert refused.status_code == 422, refused.text
        detail = refused.json()["detail"]
        assert "allow_pickle_models" in detail
        assert f"PATCH /api/v1/tenants/{own_tenant.tenant_id}/settings" in detail

    with maestro(server, own_tenant, "tenant_admin") as admin:
        enabled = admin.patch(f"/api/v1/tenants/{own_tenant.tenant_id}/settings",
                              json={"allow_pickle_models": True})
        assert enabled.status_code == 200, enabled.text

    with maestro(server, own_tenant, "ml_engineer") as http:
        deployed = http.post("/api/v1/deployments",
                             json={"model_id": model_id, "alias": "champion"})
        assert deployed.status_code == 201, deployed.text
        answer = http.post(f"/api/v1/deployments/{deployed.json()['name']}/predict",
                           json={"instances": ROWS})
        assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == estimator.predict(pd.DataFrame(ROWS)).tolist()


def test_a_skops_mlflow_model_deploys_in_a_safe_format(
    server: Server, tenant_b: Actors, use_key: Callable[[str], None]
) -> None:
    use_key(tenant_b.keys["ml_engineer"])
    estimator = LogisticRegression().fit(FRAME, LABELS)
    model_name = name("safe")
    log_and_register(model_name, estimator)
    with maestro(server, tenant_b, "ml_engineer") as http:
        model_id = http.get("/api/v1/models", params={"name": model_name}).json()["items"][0]["id"]
        version = http.get(f"/api/v1/models/{model_id}/versions/1").json()
        assert version["format"] == "skops"
        deployed = http.post("/api/v1/deployments", json={"model_id": model_id, "version": 1})
        assert deployed.status_code == 201, deployed.text
        answer = http.post(f"/api/v1/deployments/{deployed.json()['name']}/predict",
                           json={"instances": ROWS})
        assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == estimator.predict(pd.DataFrame(ROWS)).tolist()


def test_logged_models_carry_their_metrics_with_the_real_client(
    server: Server, own_tenant: Actors, use_key: Callable[[str], None]
) -> None:
    """``log_model`` in a run links the run's values to the new model (the client logs
    them again with its id); later values name the model explicitly; searches use them."""
    use_key(own_tenant.keys["ml_engineer"])
    experiment_id = mlflow.set_experiment(name("model-metrics")).experiment_id
    estimator = LogisticRegression().fit(FRAME, LABELS)
    with mlflow.start_run() as run:
        mlflow.log_metric("accuracy", 0.75)
        strong = mlflow.sklearn.log_model(estimator, name="strong").model_id
        weak = mlflow.sklearn.log_model(estimator, name="weak").model_id
        mlflow.log_metric("accuracy", 0.95, step=1, model_id=strong)
        mlflow.log_metric("accuracy", 0.55, step=1, model_id=weak)
    client = MlflowClient()

    history = client.get_metric_history(run.info.run_id, "accuracy")
    assert sorted((m.step, m.value) for m in history) == [(0, 0.75), (1, 0.55), (1, 0.95)]
    linked = mlflow.get_logged_model(strong).metrics
    assert sorted((m.step, m.value) for m in linked) == [(0, 0.75), (1, 0.95)]
    assert all(m.run_id == run.info.run_id and m.model_id == strong for m in linked)

    best = mlflow.search_logged_models(
        experiment_ids=[experiment_id], filter_string="metrics.accuracy > 0.9",
        output_format="list")
    assert [m.model_id for m in best] == [strong]
    ranked = mlflow.search_logged_models(
        experiment_ids=[experiment_id], output_format="list",
        order_by=[{"field_name": "metrics.accuracy", "ascending": False}])
    assert [m.model_id for m in ranked] == [strong, weak]

    produced = client.get_run(run.info.run_id).outputs.model_outputs
    assert sorted((o.model_id, o.step) for o in produced) == sorted([(strong, 0), (weak, 0)])
    # Evaluating a model in another run: the client records the model as that run's input.
    with mlflow.start_run() as evaluation:
        mlflow.log_metric("holdout_accuracy", 0.9, model_id=strong)
    used = client.get_run(evaluation.info.run_id).inputs.model_inputs
    assert [m.model_id for m in used] == [strong]
    assert {m.key for m in mlflow.get_logged_model(strong).metrics} == {
        "accuracy", "holdout_accuracy"}
