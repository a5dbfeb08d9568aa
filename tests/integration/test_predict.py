"""Predictions over HTTP: every payload shape, signature errors, switching, isolation, no DB."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from maestro_ml.bootstrap import Container
from tests.factories import Actors, make_tenant
from tests.model_factories import (
    FEATURES,
    TrainedVersion,
    create_model,
    make_model_version,
    sample_rows,
)


@pytest.fixture(scope="module")
def tenant(client: TestClient, root_token: str) -> Actors:
    """One tenant per module (every test here uses its own models): tenants are slow to make."""
    return make_tenant(client, root_token)


@pytest.fixture
def served(client: TestClient, container: Container, tenant: Actors) -> dict:
    """A classifier with two versions, deployed at version 1."""
    model = create_model(client, tenant)
    first = make_model_version(container, tenant.tenant_id, model["id"], seed=0)
    second = make_model_version(container, tenant.tenant_id, model["id"], seed=3)
    response = client.post("/api/v1/deployments", json={"model_id": model["id"], "version": 1},
                           headers=tenant.headers("ml_engineer"))
    assert response.status_code == 201, response.text
    return {"deployment": response.json(), "v1": first, "v2": second, "model": model}


def predict(client: TestClient, actors: Actors, ident: str, body: object, role: str = "viewer"):
    return client.post(f"/api/v1/deployments/{ident}/predict", json=body,
                       headers=actors.headers(role))


def test_one_row_by_features(client: TestClient, tenant: Actors, served: dict):
    row = sample_rows(1, seed=7)[0]
    name = served["deployment"]["name"]

    response = predict(client, tenant, name, {"features": row})

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    v1: TrainedVersion = served["v1"]
    assert body["deployment"] == name and body["model_version"] == 1
    assert body["predictions"] == v1.expected([row])
    assert body["classes"] == ["churns", "stays"]
    assert len(body["probabilities"]) == 1 and sum(body["probabilities"][0]) == pytest.approx(1)


def test_hundred_instances_match_the_in_memory_model(
    client: TestClient, tenant: Actors, served: dict
):
    rows = sample_rows(100, seed=11)

    response = predict(client, tenant, served["deployment"]["id"], {"instances": rows})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["predictions"] == served["v1"].expected(rows)
    assert len(set(body["predictions"])) == 2  # the rows reach both classes
    expected_proba = served["v1"].estimator.predict_proba(
        [[row[name] for name in FEATURES] for row in rows]
    )
    np.testing.assert_allclose(body["probabilities"], expected_proba, rtol=1e-9)
    assert all(sum(p) == pytest.approx(1) for p in body["probabilities"])


@pytest.mark.parametrize("shape", ["columns", "dataframe_split", "dataframe_records", "inputs",
                                   "inputs_records"])
def test_columnar_and_mlflow_shapes_give_the_same_predictions(
    client: TestClient, tenant: Actors, served: dict, shape: str
):
    rows = sample_rows(5, seed=3)
    data = [[row[name] for name in FEATURES] for row in rows]
    bodies = {
        "columns": {"columns": FEATURES, "data": data},
        "dataframe_split": {"dataframe_split": {"columns": FEATURES, "data": data}},
        "dataframe_records": {"dataframe_records": rows},
        "inputs": {"inputs": {name: [row[name] for row in rows] for name in FEATURES}},
        "inputs_records": {"inputs": rows},
    }

    response = predict(client, tenant, served["deployment"]["name"], bodies[shape])

    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == served["v1"].expected(rows)


def test_regression_returns_numbers_without_probabilities(
    client: TestClient, container: Container, tenant: Actors
):
    model = create_model(client, tenant, task="regression")
    version = make_model_version(container, tenant.tenant_id, model["id"], task="regression")
    name = client.post("/api/v1/deployments", json={"model_id": model["id"]},
                       headers=tenant.headers("ml_engineer")).json()["name"]
    rows = sample_rows(3, seed=5)

    body = predict(client, tenant, name, {"instances": rows}).json()

    assert body["predictions"] == pytest.approx(version.expected(rows))
    assert body["probabilities"] is None and body["classes"] is None


@pytest.mark.parametrize(
    ("change", "feature", "words"),
    [
        ({"drop": "usage"}, "usage", "is missing"),
        ({"add": ("plan", "pro")}, "plan", "is not an input"),
        ({"set": ("score", "high")}, "score", "must be double"),
        ({"set": ("tenure", 1.5)}, "tenure", "must be long"),
    ],
)
def test_bad_features_are_422_naming_the_feature(
    client: TestClient, tenant: Actors, served: dict, change: dict, feature: str, words: str
):
    row = dict(sample_rows(1)[0])
    if "drop" in change:
        del row[change["drop"]]
    else:
        key, value = change.get("add") or change["set"]
        row[key] = value

    response = predict(client, tenant, served["deployment"]["name"], {"features": row})

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert f"'{feature}'" in detail and words in detail
    assert response.json()["errors"][0]["feature"] == feature


@pytest.mark.parametrize(
    "body", [{}, {"rows": []}, {"instances": []}, {"features": [1, 2]}, [1, 2]]
)
def test_malformed_payloads_are_422(client: TestClient, tenant: Actors, served: dict, body):
    response = predict(client, tenant, served["deployment"]["name"], body)

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_input"


def test_invalid_json_is_422(client: TestClient, tenant: Actors, served: dict):
    response = client.post(
        f"/api/v1/deployments/{served['deployment']['name']}/predict", content=b"{nope",
        headers={**tenant.headers("viewer"), "content-type": "application/json"},
    )

    assert response.status_code == 422 and "not valid JSON" in response.json()["detail"]


def test_too_many_rows_is_413(
    client: TestClient, container: Container, tenant: Actors, served: dict
):
    limit = container.settings.max_batch_rows
    rows = [sample_rows(1)[0]] * (limit + 1)

    response = predict(client, tenant, served["deployment"]["name"], {"instances": rows})

    assert response.status_code == 413 and str(limit) in response.json()["detail"]


def test_switching_the_version_changes_the_next_prediction(
    client: TestClient, tenant: Actors, served: dict
):
    name, rows = served["deployment"]["name"], sample_rows(100, seed=2)
    before = predict(client, tenant, name, {"instances": rows}).json()

    patched = client.patch(f"/api/v1/deployments/{name}", json={"version": 2},
                           headers=tenant.headers("ml_engineer"))
    after = predict(client, tenant, name, {"instances": rows}).json()

    assert patched.status_code == 200
    assert (before["model_version"], after["model_version"]) == (1, 2)
    assert after["predictions"] == served["v2"].expected(rows)
    assert before["predictions"] != after["predictions"]


def test_warm_predictions_do_not_query_the_database(
    client: TestClient, container: Container, tenant: Actors, served: dict
):
    name, row = served["deployment"]["name"], sample_rows(1)[0]
    assert predict(client, tenant, name, {"features": row}).status_code == 200
    statements: list[str] = []

    def record(conn, cursor, statement, *args):  # noqa: ANN001 - SQLAlchemy's signature
        statements.append(statement)

    # Authentication caches API keys, but the test settings turn that cache off.
    principal = container.identity.authenticate(tenant.keys["viewer"])
    event.listen(container.engine, "before_cursor_execute", record)
    try:
        result = container.predictions.predict(principal, name, {"features": row})
    finally:
        event.remove(container.engine, "before_cursor_execute", record)

    assert statements == []
    assert result.model_version == 1


def test_deleted_deployment_stops_serving(client: TestClient, tenant: Actors, served: dict):
    name = served["deployment"]["name"]
    assert predict(client, tenant, name, {"features": sample_rows(1)[0]}).status_code == 200

    client.delete(f"/api/v1/deployments/{name}", headers=tenant.headers("ml_engineer"))

    assert predict(client, tenant, name, {"features": sample_rows(1)[0]}).status_code == 404


def test_viewer_may_predict_but_not_deploy(client: TestClient, tenant: Actors, served: dict):
    viewer = tenant.headers("viewer")

    ok = predict(client, tenant, served["deployment"]["name"], {"features": sample_rows(1)[0]})
    denied = client.post("/api/v1/deployments", json={"model_id": served["model"]["id"]},
                         headers=viewer)

    assert ok.status_code == 200 and denied.status_code == 403


def test_unauthenticated_predict_is_401(client: TestClient, served: dict):
    response = client.post(f"/api/v1/deployments/{served['deployment']['name']}/predict",
                           json={"features": sample_rows(1)[0]})

    assert response.status_code == 401


def test_another_tenant_cannot_predict_by_name_or_id(
    client: TestClient, tenant: Actors, other_tenant: Actors, served: dict
):
    deployment, row = served["deployment"], sample_rows(1)[0]
    # Warm the route table for the owner first: the intruder must still miss.
    assert predict(client, tenant, deployment["name"], {"features": row}).status_code == 200

    by_name = predict(client, other_tenant, deployment["name"], {"features": row})
    by_id = predict(client, other_tenant, deployment["id"], {"features": row})

    assert by_name.status_code == 404 and by_id.status_code == 404


def test_same_deployment_name_in_two_tenants_serves_each_its_own_model(
    client: TestClient, container: Container, tenant: Actors, other_tenant: Actors
):
    name, rows = "shared-name", sample_rows(20, seed=4)
    versions = {}
    for actors, task in ((tenant, "classification"), (other_tenant, "regression")):
        model = create_model(client, actors, task=task)
        versions[actors.tenant_id] = make_model_version(
            container, actors.tenant_id, model["id"], task=task
        )
        created = client.post("/api/v1/deployments", json={"model_id": model["id"], "name": name},
                              headers=actors.headers("ml_engineer"))
        assert created.status_code == 201, created.text

    mine = predict(client, tenant, name, {"instances": rows}).json()
    theirs = predict(client, other_tenant, name, {"instances": rows}).json()

    assert mine["classes"] == ["churns", "stays"]
    assert mine["predictions"] == versions[tenant.tenant_id].expected(rows)
    assert theirs["classes"] is None
    assert theirs["predictions"] == pytest.approx(versions[other_tenant.tenant_id].expected(rows))
