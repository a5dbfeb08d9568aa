"""The MLflow model registry and logged models over HTTP: shapes, errors, RBAC, isolation,
and deploying versions registered from MLflow model directories (skops and pickle)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import mlflow.sklearn
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LinearRegression, LogisticRegression

from maestro_ml.bootstrap import Container
from maestro_ml.serving.isolated import IsolatedModel
from tests.factories import Actors, unique

API = "/api/2.0/mlflow"
FRAME = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0, 0.5, 2.5], "b": [1.0, 0.0, 1.0, 0.0, 0.3, 0.8]})
LABELS = [0, 0, 1, 1, 0, 1]
ROWS = [{"a": 0.2, "b": 0.1}, {"a": 2.9, "b": 0.4}, {"a": 1.6, "b": 0.9}]


def call(client: TestClient, actors: Actors, role: str, method: str, path: str,
         body: dict[str, Any] | None = None) -> Any:
    if method in ("GET",) and body is not None:
        return client.request(method, f"{API}/{path}", params=body, headers=actors.headers(role))
    return client.request(method, f"{API}/{path}", json=body, headers=actors.headers(role))


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def experiment(client: TestClient, actors: Actors) -> str:
    created = call(client, actors, "data_scientist", "POST", "experiments/create",
                   {"name": unique("exp")})
    return ok(created)["experiment_id"]  # type: ignore[no-any-return]


def logged_model(client: TestClient, actors: Actors, experiment_id: str) -> dict[str, Any]:
    created = call(client, actors, "data_scientist", "POST", "logged-models",
                   {"experiment_id": experiment_id, "name": "model",
                    "tags": [{"key": "mlflow.source.name", "value": "train.py"}],
                    "params": [{"key": "C", "value": "1.0"}]})
    return ok(created)["model"]  # type: ignore[no-any-return]


def store_mlflow_model(container: Container, actors: Actors, model: dict[str, Any],
                       estimator: Any, **save: Any) -> None:
    """Save ``estimator`` with mlflow and put its directory where the proxy would have."""
    location = model["info"]["artifact_uri"]
    assert location == (f"mlflow-artifacts:/{model['info']['experiment_id']}/models/"
                        f"{model['info']['model_id']}/artifacts")
    key = f"mlflow/models/{model['info']['model_id']}/artifacts"
    with tempfile.TemporaryDirectory() as scratch:
        target = Path(scratch) / "model"
        mlflow.sklearn.save_model(estimator, str(target), input_example=FRAME.head(2), **save)
        prefix = container.artifacts.tenant_key(actors.tenant_id, key)
        container.artifacts.write_dir(prefix, target)


def register(client: TestClient, actors: Actors, name: str, source: str,
             **extra: Any) -> dict[str, Any]:
    if call(client, actors, "data_scientist", "GET", "registered-models/get",
            {"name": name}).status_code == 404:
        ok(call(client, actors, "data_scientist", "POST", "registered-models/create",
                {"name": name}))
    version = call(client, actors, "data_scientist", "POST", "model-versions/create",
                   {"name": name, "source": source, **extra})
    return ok(version)["model_version"]  # type: ignore[no-any-return]


def native_model_id(client: TestClient, actors: Actors, name: str) -> str:
    found = client.get("/api/v1/models", params={"name": name}, headers=actors.headers("viewer"))
    assert found.status_code == 200, found.text
    return found.json()["items"][0]["id"]  # type: ignore[no-any-return]


def deploy(client: TestClient, actors: Actors, model_id: str, version: int) -> Any:
    return client.post("/api/v1/deployments", json={"model_id": model_id, "version": version},
                       headers=actors.headers("ml_engineer"))


def predict(client: TestClient, actors: Actors, deployment: str) -> list[Any]:
    answer = client.post(f"/api/v1/deployments/{deployment}/predict", json={"instances": ROWS},
                         headers=actors.headers("viewer"))
    assert answer.status_code == 200, answer.text
    return answer.json()["predictions"]  # type: ignore[no-any-return]


def set_pickle_policy(client: TestClient, actors: Actors, allow: bool) -> None:
    response = client.patch(f"/api/v1/tenants/{actors.tenant_id}/settings",
                            json={"allow_pickle_models": allow},
                            headers=actors.headers("tenant_admin"))
    assert response.status_code == 200, response.text


# -- registered models --------------------------------------------------------------------
def test_registered_model_lifecycle_in_mlflow_shapes(client: TestClient, tenant: Actors) -> None:
    name = unique("churn")
    created = ok(call(client, tenant, "data_scientist", "POST", "registered-models/create",
                      {"name": name, "description": "first",
                       "tags": [{"key": "team", "value": "ds"}]}))["registered_model"]
    assert created["name"] == name and created["description"] == "first"
    assert created["tags"] == [{"key": "team", "value": "ds"}]
    assert isinstance(created["creation_timestamp"], int)

    again = call(client, tenant, "data_scientist", "POST", "registered-models/create",
                 {"name": name})
    assert again.status_code == 400
    assert again.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"

    ok(call(client, tenant, "data_scientist", "PATCH", "registered-models/update",
            {"name": name, "description": "second"}))
    ok(call(client, tenant, "data_scientist", "POST", "registered-models/set-tag",
            {"name": name, "key": "stage", "value": "beta"}))
    ok(call(client, tenant, "data_scientist", "DELETE", "registered-models/delete-tag",
            {"name": name, "key": "team"}))
    got = ok(call(client, tenant, "viewer", "GET", "registered-models/get",
                  {"name": name}))["registered_model"]
    assert got["description"] == "second"
    assert got["tags"] == [{"key": "stage", "value": "beta"}]

    renamed = ok(call(client, tenant, "data_scientist", "POST", "registered-models/rename",
                      {"name": name, "new_name": name + "-v2"}))["registered_model"]
    assert renamed["name"] == name + "-v2"
    missing = call(client, tenant, "viewer", "GET", "registered-models/get", {"name": name})
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"

    refused = call(client, tenant, "data_scientist", "DELETE", "registered-models/delete",
                   {"name": name + "-v2"})
    assert refused.status_code == 403
    assert refused.json()["error_code"] == "PERMISSION_DENIED"
    ok(call(client, tenant, "ml_engineer", "DELETE", "registered-models/delete",
            {"name": name + "-v2"}))
    gone = call(client, tenant, "viewer", "GET", "registered-models/get", {"name": name + "-v2"})
    assert gone.status_code == 404


def test_search_registered_models_filters_orders_and_pages(
    client: TestClient, tenant: Actors
) -> None:
    stem = unique("search")
    for suffix in ("b", "a", "c"):
        ok(call(client, tenant, "data_scientist", "POST", "registered-models/create",
                {"name": f"{stem}-{suffix}", "tags": [{"key": "letter", "value": suffix}]}))
    ok(call(client, tenant, "data_scientist", "POST", "registered-models/create",
            {"name": unique("other")}))
    query = f"name LIKE '%{stem}%' AND tag.`mlflow.prompt.is_prompt` != 'true'"
    first = ok(call(client, tenant, "viewer", "GET", "registered-models/search",
                    {"filter": query, "max_results": 2}))
    assert [m["name"] for m in first["registered_models"]] == [f"{stem}-a", f"{stem}-b"]
    second = ok(call(client, tenant, "viewer", "GET", "registered-models/search",
                     {"filter": query, "max_results": 2,
                      "page_token": first["next_page_token"]}))
    assert [m["name"] for m in second["registered_models"]] == [f"{stem}-c"]
    assert "next_page_token" not in second

    by_tag = ok(call(client, tenant, "viewer", "GET", "registered-models/search",
                     {"filter": f"name LIKE '{stem}%' AND tags.letter = 'c'"}))
    assert [m["name"] for m in by_tag["registered_models"]] == [f"{stem}-c"]
    descending = ok(call(client, tenant, "viewer", "GET", "registered-models/search",
                         {"filter": f"name LIKE '{stem}%'", "order_by": "name DESC"}))
    assert [m["name"] for m in descending["registered_models"]][0] == f"{stem}-c"

    for bad in ("name ~ 'x'", "colour = 'red'", "name = 'x' OR name = 'y'", "name LIKE 3"):
        response = call(client, tenant, "viewer", "GET", "registered-models/search",
                        {"filter": bad})
        assert response.status_code == 400, (bad, response.text)
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    bad_token = call(client, tenant, "viewer", "GET", "registered-models/search",
                     {"page_token": "not-a-token"})
    assert bad_token.status_code == 400


# -- logged models ------------------------------------------------------------------------
def test_logged_model_lifecycle(client: TestClient, tenant: Actors) -> None:
    experiment_id = experiment(client, tenant)
    model = logged_model(client, tenant, experiment_id)
    info = model["info"]
    assert info["model_id"].startswith("m-") and info["status"] == "LOGGED_MODEL_PENDING"
    assert model["data"]["params"] == [{"key": "C", "value": "1.0"}]
    path = f"logged-models/{info['model_id']}"

    ok(client.patch(f"{API}/{path}/tags", headers=tenant.headers("data_scientist"),
                    json={"tags": [{"key": "mlflow.modelVersions", "value": "[]"}]}))
    ok(client.post(f"{API}/{path}/params", headers=tenant.headers("data_scientist"),
                   json={"params": [{"key": "max_iter", "value": "100"}]}))
    done = ok(client.patch(f"{API}/{path}", headers=tenant.headers("data_scientist"),
                           json={"model_id": info["model_id"], "status": "LOGGED_MODEL_READY"}))
    assert done["model"]["info"]["status"] == "LOGGED_MODEL_READY"
    bad = client.patch(f"{API}/{path}", headers=tenant.headers("data_scientist"),
                       json={"status": "DONE"})
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"

    got = ok(client.get(f"{API}/{path}", headers=tenant.headers("viewer")))["model"]
    assert {t["key"] for t in got["info"]["tags"]} == {"mlflow.source.name",
                                                       "mlflow.modelVersions"}
    assert {p["key"] for p in got["data"]["params"]} == {"C", "max_iter"}

    found = ok(client.post(f"{API}/logged-models/search", headers=tenant.headers("viewer"),
                           json={"experiment_ids": [experiment_id],
                                 "filter": "name = 'model'"}))
    assert [m["info"]["model_id"] for m in found["models"]] == [info["model_id"]]
    none = ok(client.post(f"{API}/logged-models/search", headers=tenant.headers("viewer"),
                          json={"experiment_ids": [experiment_id], "filter": "name = 'nope'"}))
    assert none["models"] == []

    ok(client.delete(f"{API}/{path}/tags/mlflow.modelVersions",
                     headers=tenant.headers("data_scientist")))
    viewer_delete = client.delete(f"{API}/{path}", headers=tenant.headers("viewer"))
    assert viewer_delete.status_code == 403
    ok(client.delete(f"{API}/{path}", headers=tenant.headers("data_scientist")))
    assert client.get(f"{API}/{path}", headers=tenant.headers("viewer")).status_code == 404


def test_logged_model_needs_an_experiment_of_the_tenant(
    client: TestClient, tenant: Actors, other_tenant: Actors
) -> None:
    theirs = experiment(client, other_tenant)
    refused = call(client, tenant, "data_scientist", "POST", "logged-models",
                   {"experiment_id": theirs, "name": "model"})
    assert refused.status_code == 404
    assert refused.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


# -- versions, aliases, stages ------------------------------------------------------------
def test_versions_aliases_stages_and_search(
    client: TestClient, container: Container, tenant: Actors
) -> None:
    experiment_id = experiment(client, tenant)
    model = logged_model(client, tenant, experiment_id)
    store_mlflow_model(container, tenant, model, LogisticRegression().fit(FRAME, LABELS))
    name = unique("registry")
    source = f"models:/{model['info']['model_id']}"
    first = register(client, tenant, name, source, model_id=model["info"]["model_id"],
                     tags=[{"key": "k", "value": "v"}])
    assert first["version"] == "1" and first["status"] == "READY"
    assert first["source"] == source and first["model_id"] == model["info"]["model_id"]
    assert first["current_stage"] == "None" and first["tags"] == [{"key": "k", "value": "v"}]
    second = register(client, tenant, name, source)
    assert second["version"] == "2"

    refused = call(client, tenant, "data_scientist", "POST", "registered-models/alias",
                   {"name": name, "alias": "champion", "version": "1"})
    assert refused.status_code == 403
    ok(call(client, tenant, "ml_engineer", "POST", "registered-models/alias",
            {"name": name, "alias": "champion", "version": "1"}))
    by_alias = ok(call(client, tenant, "viewer", "GET", "registered-models/alias",
                       {"name": name, "alias": "champion"}))["model_version"]
    assert by_alias["version"] == "1" and by_alias["aliases"] == ["champion"]
    described = ok(call(client, tenant, "viewer", "GET", "registered-models/get",
                        {"name": name}))["registered_model"]
    assert described["aliases"] == [{"alias": "champion", "version": "1"}]

    staged = ok(call(client, tenant, "ml_engineer", "POST", "model-versions/transition-stage",
                     {"name": name, "version": "1", "stage": "staging",
                      "archive_existing_versions": False}))["model_version"]
    assert staged["current_stage"] == "Staging"
    latest = ok(call(client, tenant, "viewer", "POST", "registered-models/get-latest-versions",
                     {"name": name}))["model_versions"]
    assert {(v["version"], v["current_stage"]) for v in latest} == {("1", "Staging"),
                                                                    ("2", "None")}
    only = ok(call(client, tenant, "viewer", "POST", "registered-models/get-latest-versions",
                   {"name": name, "stages": ["Staging"]}))["model_versions"]
    assert [v["version"] for v in only] == ["1"]

    found = ok(call(client, tenant, "viewer", "GET", "model-versions/search",
                    {"filter": f"name='{name}'"}))["model_versions"]
    assert sorted(v["version"] for v in found) == ["1", "2"]
    newer = ok(call(client, tenant, "viewer", "GET", "model-versions/search",
                    {"filter": f"name='{name}' AND version_number > 1"}))["model_versions"]
    assert [v["version"] for v in newer] == ["2"]
    uri = ok(call(client, tenant, "viewer", "GET", "model-versions/get-download-uri",
                  {"name": name, "version": "1"}))
    assert uri["artifact_uri"] == model["info"]["artifact_uri"]

    ok(call(client, tenant, "data_scientist", "PATCH", "model-versions/update",
            {"name": name, "version": "2", "description": "retrained"}))
    ok(call(client, tenant, "data_scientist", "POST", "model-versions/set-tag",
            {"name": name, "version": "2", "key": "checked", "value": "yes"}))
    got = ok(call(client, tenant, "viewer", "GET", "model-versions/get",
                  {"name": name, "version": "2"}))["model_version"]
    assert got["description"] == "retrained"
    assert {"key": "checked", "value": "yes"} in got["tags"]
    ok(call(client, tenant, "data_scientist", "DELETE", "model-versions/delete-tag",
            {"name": name, "version": "2", "key": "checked"}))

    ok(call(client, tenant, "ml_engineer", "DELETE", "registered-models/alias",
            {"name": name, "alias": "champion"}))
    no_alias = call(client, tenant, "viewer", "GET", "registered-models/alias",
                    {"name": name, "alias": "champion"})
    assert no_alias.status_code == 404
    # As MLflow's registry: deleting an alias the model lacks succeeds; on a model that does
    # not exist it is 404; an alias of the form v<number> is reserved for versions.
    ok(call(client, tenant, "ml_engineer", "DELETE", "registered-models/alias",
            {"name": name, "alias": "champion"}))
    nowhere = call(client, tenant, "ml_engineer", "DELETE", "registered-models/alias",
                   {"name": unique("absent"), "alias": "champion"})
    assert nowhere.status_code == 404
    assert nowhere.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    reserved = call(client, tenant, "ml_engineer", "POST", "registered-models/alias",
                    {"name": name, "alias": "v1", "version": "1"})
    assert reserved.status_code == 400
    assert reserved.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    ok(call(client, tenant, "ml_engineer", "POST", "registered-models/alias",
            {"name": name, "alias": "Champion", "version": "1"}))  # case matters, as in MLflow
    cased = ok(call(client, tenant, "viewer", "GET", "registered-models/alias",
                    {"name": name, "alias": "Champion"}))["model_version"]
    assert cased["version"] == "1" and cased["aliases"] == ["Champion"]
    assert call(client, tenant, "viewer", "GET", "registered-models/alias",
                {"name": name, "alias": "champion"}).status_code == 404
    ok(call(client, tenant, "ml_engineer", "DELETE", "model-versions/delete",
            {"name": name, "version": "2"}))
    missing = call(client, tenant, "viewer", "GET", "model-versions/get",
                   {"name": name, "version": "2"})
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    for bad in ("x", "0", "-3"):
        response = call(client, tenant, "viewer", "GET", "model-versions/get",
                        {"name": name, "version": bad})
        assert response.status_code == 400, response.text


# -- deploying MLflow-registered versions --------------------------------------------------
def test_skops_logged_model_deploys_without_the_pickle_policy(
    client: TestClient, container: Container, tenant: Actors
) -> None:
    estimator = LogisticRegression().fit(FRAME, LABELS)
    model = logged_model(client, tenant, experiment(client, tenant))
    store_mlflow_model(container, tenant, model, estimator)
    name = unique("safe")
    version = register(client, tenant, name, f"models:/{model['info']['model_id']}")
    model_id = native_model_id(client, tenant, name)
    native = client.get(f"/api/v1/models/{model_id}/versions/{version['version']}",
                        headers=tenant.headers("viewer")).json()
    assert native["format"] == "skops"
    assert [c["name"] for c in native["signature"]["inputs"]] == ["a", "b"]

    deployed = deploy(client, tenant, model_id, 1)
    assert deployed.status_code == 201, deployed.text
    expected = estimator.predict(pd.DataFrame(ROWS)).tolist()
    assert predict(client, tenant, deployed.json()["name"]) == expected


def test_regressor_logged_with_skops_serves_as_a_regression(
    client: TestClient, container: Container, tenant: Actors
) -> None:
    estimator = LinearRegression().fit(FRAME, [0.5, 1.0, 2.0, 3.5, 0.7, 2.2])
    model = logged_model(client, tenant, experiment(client, tenant))
    store_mlflow_model(container, tenant, model, estimator)
    name = unique("regressor")
    register(client, tenant, name, f"models:/{model['info']['model_id']}")
    model_id = native_model_id(client, tenant, name)
    native = client.get(f"/api/v1/models/{model_id}", headers=tenant.headers("viewer")).json()
    assert native["task"] == "regression" and native["framework"] == "mlflow"
    deployed = deploy(client, tenant, model_id, 1)
    assert deployed.status_code == 201, deployed.text
    expected = estimator.predict(pd.DataFrame(ROWS)).tolist()
    assert predict(client, tenant, deployed.json()["name"]) == pytest.approx(expected)


def test_pickled_logged_model_deploys_only_with_the_policy_in_a_worker(
    client: TestClient, container: Container, tenant: Actors
) -> None:
    estimator = LogisticRegression().fit(FRAME, LABELS)
    model = logged_model(client, tenant, experiment(client, tenant))
    store_mlflow_model(container, tenant, model, estimator,
                       serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE)
    name = unique("pickled")
    register(client, tenant, name, f"models:/{model['info']['model_id']}")
    model_id = native_model_id(client, tenant, name)
    native = client.get(f"/api/v1/models/{model_id}/versions/1",
                        headers=tenant.headers("viewer")).json()
    assert native["format"] == "mlflow-pyfunc"

    refused = deploy(client, tenant, model_id, 1)
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert "allow_pickle_models" in detail
    assert f"PATCH /api/v1/tenants/{tenant.tenant_id}/settings" in detail

    set_pickle_policy(client, tenant, True)
    deployed = deploy(client, tenant, model_id, 1)
    assert deployed.status_code == 201, deployed.text
    expected = estimator.predict(pd.DataFrame(ROWS)).tolist()
    assert predict(client, tenant, deployed.json()["name"]) == expected
    version_id = native["id"]
    loaded = container.model_cache.get(version_id, lambda: None)
    assert isinstance(loaded, IsolatedModel) and loaded.pid not in (None, 0)


def test_version_from_a_source_outside_the_store_is_recorded_but_not_deployable(
    client: TestClient, tenant: Actors
) -> None:
    name = unique("external")
    version = register(client, tenant, name, "s3://bucket/somewhere/model")
    assert version["source"] == "s3://bucket/somewhere/model"
    assert "cannot be deployed" in version["status_message"]
    deployed = deploy(client, tenant, native_model_id(client, tenant, name), 1)
    assert deployed.status_code == 422, deployed.text
    traversal = call(client, tenant, "data_scientist", "POST", "model-versions/create",
                     {"name": name, "source": "mlflow-artifacts:/1/../../etc/passwd"})
    assert traversal.status_code == 400, traversal.text


# -- tenant isolation ---------------------------------------------------------------------
def test_tenants_cannot_see_or_use_each_others_registry(
    client: TestClient, container: Container, tenant: Actors, other_tenant: Actors
) -> None:
    model = logged_model(client, tenant, experiment(client, tenant))
    store_mlflow_model(container, tenant, model, LogisticRegression().fit(FRAME, LABELS))
    name = unique("private")
    register(client, tenant, name, f"models:/{model['info']['model_id']}")
    ok(call(client, tenant, "ml_engineer", "POST", "registered-models/alias",
            {"name": name, "alias": "champion", "version": "1"}))

    for method, path, body in (
        ("GET", "registered-models/get", {"name": name}),
        ("GET", "registered-models/alias", {"name": name, "alias": "champion"}),
        ("GET", "model-versions/get", {"name": name, "version": "1"}),
        ("GET", "model-versions/get-download-uri", {"name": name, "version": "1"}),
        ("DELETE", "registered-models/delete", {"name": name}),
        ("GET", f"logged-models/{model['info']['model_id']}", None),
    ):
        response = call(client, other_tenant, "tenant_admin", method, path, body)
        assert response.status_code == 404, (path, response.text)
    searched = ok(call(client, other_tenant, "viewer", "GET", "registered-models/search",
                       {"filter": f"name = '{name}'"}))
    assert searched["registered_models"] == []
    versions = ok(call(client, other_tenant, "viewer", "GET", "model-versions/search", {}))
    assert all(v["name"] != name for v in versions["model_versions"])

    # Registering the other tenant's logged model reads nothing of theirs.
    theirs = unique("theirs")
    ok(call(client, other_tenant, "data_scientist", "POST", "registered-models/create",
            {"name": theirs}))
    stolen = call(client, other_tenant, "data_scientist", "POST", "model-versions/create",
                  {"name": theirs, "source": f"models:/{model['info']['model_id']}"})
    assert stolen.status_code == 404, stolen.text
    proxied = ok(call(client, other_tenant, "data_scientist", "POST", "model-versions/create",
                      {"name": theirs, "source": model["info"]["artifact_uri"]}))
    assert "cannot be deployed" in proxied["model_version"]["status_message"]
