"""The model registry over HTTP: models, versions, stages, aliases, lineage, permissions."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from maestro_ml.bootstrap import Container
from tests.factories import Actors, make_tenant, unique
from tests.model_factories import create_model, make_lineage, make_model_version

MODELS = "/api/v1/models"


@pytest.fixture(scope="module")
def tenant(client: TestClient, root_token: str) -> Actors:
    """One tenant per module (every test here uses its own models): tenants are slow to make."""
    return make_tenant(client, root_token)


def test_create_model_returns_it_without_versions(client: TestClient, tenant: Actors):
    body = {"name": unique("churn"), "task": "regression", "framework": "xgboost",
            "description": "monthly churn", "tags": {"team": "growth"}}

    response = client.post(MODELS, json=body, headers=tenant.headers("data_scientist"))

    assert response.status_code == 201, response.text
    model = response.json()
    assert {k: model[k] for k in body} == body
    assert model["latest_version"] is None and model["aliases"] == {}
    assert len(model["id"]) == 32
    fetched = client.get(f"{MODELS}/{model['id']}", headers=tenant.headers("viewer"))
    assert fetched.json() == model


def test_same_model_name_in_one_tenant_is_409_but_fine_in_another(
    client: TestClient, tenant: Actors, other_tenant: Actors
):
    model = create_model(client, tenant)
    again = {"name": model["name"], "task": "classification", "framework": "sklearn"}

    duplicate = client.post(MODELS, json=again, headers=tenant.headers("data_scientist"))
    elsewhere = client.post(MODELS, json=again, headers=other_tenant.headers("data_scientist"))

    assert duplicate.status_code == 409
    assert model["name"] in duplicate.json()["detail"]
    assert elsewhere.status_code == 201


@pytest.mark.parametrize(
    ("field", "value"), [("task", "clustering"), ("framework", "pytorch"), ("name", "")]
)
def test_invalid_model_fields_are_422_naming_the_field(
    client: TestClient, tenant: Actors, field: str, value: str
):
    body = {"name": unique("m"), "task": "classification", "framework": "sklearn", field: value}

    response = client.post(MODELS, json=body, headers=tenant.headers("data_scientist"))

    assert response.status_code == 422
    assert response.json()["detail"].startswith(field)


def test_list_models_filters_and_pages(client: TestClient, tenant: Actors):
    stem = unique("fraud")
    made = [
        create_model(client, tenant, name=f"{stem}-a", task="classification"),
        create_model(client, tenant, name=f"{stem}-b", task="regression", framework="lightgbm"),
        create_model(client, tenant, name=f"{stem}-c", task="regression"),
    ]
    create_model(client, tenant)  # not matching the filters below
    viewer = tenant.headers("viewer")

    def names(**params: object) -> list[str]:
        response = client.get(MODELS, params=params, headers=viewer)
        assert response.status_code == 200, response.text
        return [item["name"] for item in response.json()["items"]]

    assert names(q=stem.upper()) == [f"{stem}-c", f"{stem}-b", f"{stem}-a"]
    assert names(name=f"{stem}-b") == [f"{stem}-b"]
    assert names(q=stem, task="regression") == [f"{stem}-c", f"{stem}-b"]
    assert names(q=stem, framework="lightgbm") == [f"{stem}-b"]
    assert names(q="%") == []  # LIKE wildcards are matched literally
    first = client.get(MODELS, params={"q": stem, "limit": 2}, headers=viewer).json()
    second = client.get(
        MODELS, params={"q": stem, "limit": 2, "cursor": first["next_cursor"]}, headers=viewer
    ).json()
    assert [m["id"] for m in first["items"] + second["items"]] == [m["id"] for m in made[::-1]]
    assert second["next_cursor"] is None


def test_patch_model_changes_description_and_tags_only(client: TestClient, tenant: Actors):
    model = create_model(client, tenant, description="old", tags={"a": "1"})

    response = client.patch(f"{MODELS}/{model['id']}", json={"tags": {"b": "2"}},
                            headers=tenant.headers("data_scientist"))
    cleared = client.patch(f"{MODELS}/{model['id']}", json={"description": ""},
                           headers=tenant.headers("data_scientist"))
    renamed = client.patch(f"{MODELS}/{model['id']}", json={"name": "other"},
                           headers=tenant.headers("data_scientist"))

    assert response.status_code == 200
    assert response.json()["tags"] == {"b": "2"} and response.json()["description"] == "old"
    assert cleared.json()["description"] is None and cleared.json()["tags"] == {"b": "2"}
    assert renamed.status_code == 422


def test_delete_model_removes_versions_and_files(
    client: TestClient, container: Container, tenant: Actors
):
    model = create_model(client, tenant)
    make_model_version(container, tenant.tenant_id, model["id"])
    files = container.artifacts.tenant_key(tenant.tenant_id, f"models/{model['id']}/v1")
    assert container.artifacts.exists(f"{files}/maestro-model.json")

    response = client.delete(f"{MODELS}/{model['id']}", headers=tenant.headers("ml_engineer"))

    assert response.status_code == 204
    assert client.get(f"{MODELS}/{model['id']}", headers=tenant.headers()).status_code == 404
    assert not container.artifacts.exists(f"{files}/maestro-model.json")


def test_versions_list_newest_first_and_model_shows_latest(
    client: TestClient, container: Container, tenant: Actors
):
    model = create_model(client, tenant)
    for seed in range(3):
        make_model_version(container, tenant.tenant_id, model["id"], seed=seed)
    viewer = tenant.headers("viewer")

    page = client.get(f"{MODELS}/{model['id']}/versions", params={"limit": 2}, headers=viewer)
    rest = client.get(f"{MODELS}/{model['id']}/versions",
                      params={"cursor": page.json()["next_cursor"]}, headers=viewer)
    one = client.get(f"{MODELS}/{model['id']}/versions/2", headers=viewer).json()

    assert [v["version"] for v in page.json()["items"]] == [3, 2]
    assert [v["version"] for v in rest.json()["items"]] == [1]
    assert client.get(f"{MODELS}/{model['id']}", headers=viewer).json()["latest_version"] == 3
    assert one["format"] == "skops" and one["framework"] == "sklearn"
    assert one["stage"] == "None" and one["status"] == "READY"
    assert one["signature"]["inputs"][0] == {"name": "tenure", "type": "long"}
    assert client.get(f"{MODELS}/{model['id']}/versions/9", headers=viewer).status_code == 404


def test_patch_version_changes_description_and_tags(
    client: TestClient, container: Container, tenant: Actors
):
    model = create_model(client, tenant)
    make_model_version(container, tenant.tenant_id, model["id"])
    url = f"{MODELS}/{model['id']}/versions/1"

    response = client.patch(url, json={"description": "baseline", "tags": {"k": "v"}},
                            headers=tenant.headers("data_scientist"))

    assert response.status_code == 200, response.text
    assert (response.json()["description"], response.json()["tags"]) == ("baseline", {"k": "v"})


def test_stage_changes_need_models_promote(
    client: TestClient, container: Container, tenant: Actors
):
    model = create_model(client, tenant)
    make_model_version(container, tenant.tenant_id, model["id"])
    url = f"{MODELS}/{model['id']}/versions/1"

    by_scientist = client.post(f"{url}/stage", json={"stage": "Production"},
                               headers=tenant.headers("data_scientist"))
    patch_by_scientist = client.patch(url, json={"stage": "Production"},
                                      headers=tenant.headers("data_scientist"))
    by_engineer = client.post(f"{url}/stage", json={"stage": "Production"},
                              headers=tenant.headers("ml_engineer"))

    assert by_scientist.status_code == 403 and patch_by_scientist.status_code == 403
    assert by_engineer.status_code == 200 and by_engineer.json()["stage"] == "Production"
    bad = client.post(f"{url}/stage", json={"stage": "Live"}, headers=tenant.headers("ml_engineer"))
    assert bad.status_code == 422 and "stage" in bad.json()["detail"]


def test_promoting_with_archive_existing_archives_the_previous_production_version(
    client: TestClient, container: Container, tenant: Actors
):
    model = create_model(client, tenant)
    for seed in range(2):
        make_model_version(container, tenant.tenant_id, model["id"], seed=seed)
    engineer = tenant.headers("ml_engineer")
    base = f"{MODELS}/{model['id']}/versions"
    client.post(f"{base}/1/stage", json={"stage": "Production"}, headers=engineer)

    client.post(f"{base}/2/stage", json={"stage": "Production", "archive_existing": True},
                headers=engineer)

    stages = {v["version"]: v["stage"] for v in client.get(base, headers=engineer).json()["items"]}
    assert stages == {1: "Archived", 2: "Production"}


def test_aliases_are_set_moved_resolved_and_deleted(
    client: TestClient, container: Container, tenant: Actors
):
    model = create_model(client, tenant)
    for seed in range(2):
        make_model_version(container, tenant.tenant_id, model["id"], seed=seed)
    engineer, base = tenant.headers("ml_engineer"), f"{MODELS}/{model['id']}"

    first = client.put(f"{base}/aliases/champion", json={"version": 1}, headers=engineer)
    client.put(f"{base}/aliases/challenger", json={"version": 2}, headers=engineer)
    moved = client.put(f"{base}/aliases/champion", json={"version": 2}, headers=engineer)

    assert first.status_code == 200 and first.json()["aliases"] == ["champion"]
    assert moved.json()["version"] == 2 and moved.json()["aliases"] == ["challenger", "champion"]
    assert client.get(base, headers=engineer).json()["aliases"] == {
        "challenger": 2, "champion": 2}
    assert client.get(f"{base}/aliases/champion", headers=engineer).json()["version"] == 2
    assert client.get(f"{base}/versions/1", headers=engineer).json()["aliases"] == []
    assert client.delete(f"{base}/aliases/champion", headers=engineer).status_code == 204
    assert client.get(f"{base}/aliases/champion", headers=engineer).status_code == 404
    assert client.delete(f"{base}/aliases/champion", headers=engineer).status_code == 404


@pytest.mark.parametrize("alias", ["latest", "Latest", "42", "v2", "V7", "has space", "é",
                                   "a" * 129])
def test_invalid_alias_names_are_422(
    client: TestClient, container: Container, tenant: Actors, alias: str
):
    model = create_model(client, tenant)
    make_model_version(container, tenant.tenant_id, model["id"])

    response = client.put(f"{MODELS}/{model['id']}/aliases/{alias}", json={"version": 1},
                          headers=tenant.headers("ml_engineer"))

    assert response.status_code == 422
    assert "alias" in response.json()["detail"]


def test_alias_changes_need_models_promote(
    client: TestClient, container: Container, tenant: Actors
):
    model = create_model(client, tenant)
    make_model_version(container, tenant.tenant_id, model["id"])
    url = f"{MODELS}/{model['id']}/aliases/champion"

    denied = client.put(url, json={"version": 1}, headers=tenant.headers("data_scientist"))
    allowed = client.put(url, json={"version": 1}, headers=tenant.headers("ml_engineer"))
    delete_denied = client.delete(url, headers=tenant.headers("data_scientist"))

    assert denied.status_code == 403 and delete_denied.status_code == 403
    assert allowed.status_code == 200


def test_lineage_links_version_to_run_experiment_and_dataset(
    client: TestClient, container: Container, tenant: Actors
):
    model = create_model(client, tenant)
    lineage = make_lineage(container, tenant.tenant_id)
    make_model_version(container, tenant.tenant_id, model["id"], run_id=lineage.run_id,
                       dataset_id=lineage.dataset_id)

    response = client.get(f"{MODELS}/{model['id']}/versions/1/lineage",
                          headers=tenant.headers("viewer"))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"]["run_id"] == lineage.run_id
    assert body["run"]["id"] == lineage.run_id and body["run"]["status"] == "FINISHED"
    assert body["run"]["params"] == {"estimator": "LogisticRegression"}
    assert body["run"]["metrics"] == {"accuracy": 0.9}
    assert body["experiment"]["id"] == lineage.experiment_id == body["run"]["experiment_id"]
    assert body["dataset"]["id"] == lineage.dataset_id and body["dataset"]["row_count"] == 200


def test_lineage_of_a_version_without_a_run_has_nulls(
    client: TestClient, container: Container, tenant: Actors
):
    model = create_model(client, tenant)
    make_model_version(container, tenant.tenant_id, model["id"])

    body = client.get(f"{MODELS}/{model['id']}/versions/1/lineage",
                      headers=tenant.headers("viewer")).json()

    assert (body["run"], body["dataset"], body["experiment"]) == (None, None, None)
    assert body["version"]["version"] == 1


def test_viewer_is_refused_every_registry_write(
    client: TestClient, container: Container, tenant: Actors
):
    model = create_model(client, tenant)
    make_model_version(container, tenant.tenant_id, model["id"])
    viewer, base = tenant.headers("viewer"), f"{MODELS}/{model['id']}"

    responses = [
        client.post(MODELS, json={"name": unique("m"), "task": "regression",
                                  "framework": "sklearn"}, headers=viewer),
        client.patch(base, json={"description": "x"}, headers=viewer),
        client.delete(base, headers=viewer),
        client.patch(f"{base}/versions/1", json={"description": "x"}, headers=viewer),
        client.put(f"{base}/aliases/champion", json={"version": 1}, headers=viewer),
    ]

    assert [r.status_code for r in responses] == [403] * 5
    assert client.get(base, headers=viewer).status_code == 200


def test_another_tenants_models_are_404_everywhere(
    client: TestClient, container: Container, tenant: Actors, other_tenant: Actors
):
    model = create_model(client, tenant)
    make_model_version(container, tenant.tenant_id, model["id"])
    intruder, base = other_tenant.headers("tenant_admin"), f"{MODELS}/{model['id']}"

    responses = [
        client.get(base, headers=intruder),
        client.patch(base, json={"description": "x"}, headers=intruder),
        client.delete(base, headers=intruder),
        client.get(f"{base}/versions", headers=intruder),
        client.get(f"{base}/versions/1", headers=intruder),
        client.patch(f"{base}/versions/1", json={"description": "x"}, headers=intruder),
        client.post(f"{base}/versions/1/stage", json={"stage": "Staging"}, headers=intruder),
        client.get(f"{base}/versions/1/lineage", headers=intruder),
        client.put(f"{base}/aliases/champion", json={"version": 1}, headers=intruder),
        client.delete(f"{base}/aliases/champion", headers=intruder),
    ]

    assert [r.status_code for r in responses] == [404] * len(responses)
    listed = client.get(MODELS, params={"name": model["name"]}, headers=intruder).json()
    assert listed["items"] == []
    assert client.get(base, headers=tenant.headers()).json()["description"] is None
