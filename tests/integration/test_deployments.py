"""Deployments over HTTP: which version they serve, names, warm-up, changes and isolation."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from maestro_ml.bootstrap import Container
from tests.factories import Actors, make_tenant, unique
from tests.model_factories import create_model, make_model_version

DEPLOYMENTS = "/api/v1/deployments"


@pytest.fixture(scope="module")
def tenant(client: TestClient, root_token: str) -> Actors:
    """One tenant per module (every test here uses its own models): tenants are slow to make."""
    return make_tenant(client, root_token)


def deploy(client: TestClient, actors: Actors, model_id: str, **fields: object):
    body = {"model_id": model_id, **fields}
    return client.post(DEPLOYMENTS, json=body, headers=actors.headers("ml_engineer"))


@pytest.fixture
def model_with_versions(client: TestClient, container: Container, tenant: Actors) -> dict:
    model = create_model(client, tenant, name=unique("Churn Model"))
    for seed in range(3):
        make_model_version(container, tenant.tenant_id, model["id"], seed=seed)
    client.put(f"/api/v1/models/{model['id']}/aliases/champion", json={"version": 2},
               headers=tenant.headers("ml_engineer"))
    return model


def test_deploy_without_version_serves_the_latest_and_is_warm(
    client: TestClient, container: Container, tenant: Actors, model_with_versions: dict
):
    response = deploy(client, tenant, model_with_versions["id"], environment="production",
                      replicas=3, description="main endpoint")

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["version"] == 3 and body["replicas"] == 3 and body["status"] == "ready"
    assert body["environment"] == "production" and body["description"] == "main endpoint"
    assert body["url"] == f"/api/v1/deployments/{body['name']}/predict"
    assert container.model_cache.peek(body["model_version_id"]) is not None


def test_deploy_by_version_and_by_alias(
    client: TestClient, tenant: Actors, model_with_versions: dict
):
    by_version = deploy(client, tenant, model_with_versions["id"], version=1)
    by_alias = deploy(client, tenant, model_with_versions["id"], alias="champion")
    by_latest = deploy(client, tenant, model_with_versions["id"], alias="latest")

    assert by_version.json()["version"] == 1
    assert by_alias.json()["version"] == 2
    assert by_latest.json()["version"] == 3


def test_version_and_alias_together_or_unknown_are_refused(
    client: TestClient, tenant: Actors, model_with_versions: dict
):
    both = deploy(client, tenant, model_with_versions["id"], version=1, alias="champion")
    no_alias = deploy(client, tenant, model_with_versions["id"], alias="nobody")
    no_version = deploy(client, tenant, model_with_versions["id"], version=99)

    assert both.status_code == 422 and "not both" in both.json()["detail"]
    assert no_alias.status_code == 404 and "nobody" in no_alias.json()["detail"]
    assert no_version.status_code == 404


def test_model_without_versions_cannot_be_deployed(client: TestClient, tenant: Actors):
    model = create_model(client, tenant)

    response = deploy(client, tenant, model["id"])

    assert response.status_code == 422
    assert "no versions yet" in response.json()["detail"]
    assert "train" in response.json()["detail"]


def test_generated_names_are_slugs_with_a_counter(
    client: TestClient, tenant: Actors, model_with_versions: dict
):
    names = [deploy(client, tenant, model_with_versions["id"], environment="staging").json()
             ["name"] for _ in range(3)]

    stem = model_with_versions["name"].lower().replace(" ", "-")
    assert names == [f"{stem}-staging", f"{stem}-staging-2", f"{stem}-staging-3"]


def test_given_names_must_be_slugs_and_unique(
    client: TestClient, tenant: Actors, model_with_versions: dict
):
    name = unique("churn-api")
    created = deploy(client, tenant, model_with_versions["id"], name=name)
    duplicate = deploy(client, tenant, model_with_versions["id"], name=name)
    not_slug = deploy(client, tenant, model_with_versions["id"], name="Churn API")

    assert created.status_code == 201 and created.json()["name"] == name
    assert duplicate.status_code == 409
    assert not_slug.status_code == 422 and "churn-api" in not_slug.json()["detail"]


@pytest.mark.parametrize(
    "fields", [{"replicas": 0}, {"replicas": 101}, {"environment": "qa"}]
)
def test_bad_replicas_or_environment_are_422(
    client: TestClient, tenant: Actors, model_with_versions: dict, fields: dict
):
    response = deploy(client, tenant, model_with_versions["id"], **fields)

    assert response.status_code == 422
    assert response.json()["detail"].startswith(next(iter(fields)))


def test_a_version_that_cannot_load_is_refused_and_nothing_is_written(
    client: TestClient, container: Container, tenant: Actors
):
    model = create_model(client, tenant)
    version = make_model_version(container, tenant.tenant_id, model["id"])
    files = container.artifacts.tenant_key(tenant.tenant_id, f"models/{model['id']}/v1")
    container.artifacts.delete_prefix(files)
    container.model_cache.invalidate(version.id)

    response = deploy(client, tenant, model["id"])

    assert response.status_code == 422
    assert "cannot be deployed" in response.json()["detail"]
    listed = client.get(DEPLOYMENTS, params={"model_id": model["id"]}, headers=tenant.headers())
    assert listed.json()["items"] == []


def test_get_by_id_or_name_list_and_filters(
    client: TestClient, tenant: Actors, model_with_versions: dict
):
    created = deploy(client, tenant, model_with_versions["id"], environment="staging").json()
    viewer = tenant.headers("viewer")

    by_id = client.get(f"{DEPLOYMENTS}/{created['id']}", headers=viewer)
    by_name = client.get(f"{DEPLOYMENTS}/{created['name']}", headers=viewer)
    listed = client.get(DEPLOYMENTS, params={"model_id": model_with_versions["id"],
                                             "environment": "staging"}, headers=viewer)
    other_env = client.get(DEPLOYMENTS, params={"model_id": model_with_versions["id"],
                                                "environment": "production"}, headers=viewer)

    assert by_id.json() == by_name.json() == created
    assert [d["id"] for d in listed.json()["items"]] == [created["id"]]
    assert other_env.json()["items"] == []


def test_patch_switches_version_by_number_or_alias_and_scales(
    client: TestClient, tenant: Actors, model_with_versions: dict
):
    created = deploy(client, tenant, model_with_versions["id"]).json()
    url, engineer = f"{DEPLOYMENTS}/{created['name']}", tenant.headers("ml_engineer")

    to_one = client.patch(url, json={"version": 1, "replicas": 5}, headers=engineer)
    to_alias = client.patch(url, json={"alias": "champion", "description": "d"},
                            headers=engineer)

    assert to_one.status_code == 200, to_one.text
    assert (to_one.json()["version"], to_one.json()["replicas"]) == (1, 5)
    assert (to_alias.json()["version"], to_alias.json()["replicas"]) == (2, 5)
    assert to_alias.json()["description"] == "d"
    assert client.patch(url, json={"replicas": 500}, headers=engineer).status_code == 422


def test_delete_deployment_then_the_model_can_be_deleted(
    client: TestClient, tenant: Actors, model_with_versions: dict
):
    created = deploy(client, tenant, model_with_versions["id"]).json()
    engineer = tenant.headers("ml_engineer")
    model_url = f"/api/v1/models/{model_with_versions['id']}"

    in_use = client.delete(model_url, headers=engineer)
    removed = client.delete(f"{DEPLOYMENTS}/{created['name']}", headers=engineer)

    assert in_use.status_code == 409 and created["name"] in in_use.json()["detail"]
    assert removed.status_code == 204
    assert client.get(f"{DEPLOYMENTS}/{created['id']}", headers=engineer).status_code == 404
    assert client.delete(model_url, headers=engineer).status_code == 204


def test_data_scientist_and_viewer_cannot_change_deployments(
    client: TestClient, tenant: Actors, model_with_versions: dict
):
    created = deploy(client, tenant, model_with_versions["id"]).json()
    url = f"{DEPLOYMENTS}/{created['id']}"

    for role in ("viewer", "data_scientist"):
        headers = tenant.headers(role)
        assert client.post(DEPLOYMENTS, json={"model_id": model_with_versions["id"]},
                           headers=headers).status_code == 403
        assert client.patch(url, json={"replicas": 2}, headers=headers).status_code == 403
        assert client.delete(url, headers=headers).status_code == 403
        assert client.get(url, headers=headers).status_code == 200


def test_another_tenants_deployments_and_models_are_404(
    client: TestClient, tenant: Actors, other_tenant: Actors, model_with_versions: dict
):
    created = deploy(client, tenant, model_with_versions["id"]).json()
    intruder = other_tenant.headers("tenant_admin")

    for ident in (created["id"], created["name"]):
        url = f"{DEPLOYMENTS}/{ident}"
        assert client.get(url, headers=intruder).status_code == 404
        assert client.patch(url, json={"replicas": 2}, headers=intruder).status_code == 404
        assert client.delete(url, headers=intruder).status_code == 404
    foreign_model = client.post(DEPLOYMENTS, json={"model_id": model_with_versions["id"]},
                                headers=intruder)
    assert foreign_model.status_code == 404
    assert client.get(DEPLOYMENTS, headers=intruder).json()["items"] == []
    assert client.get(f"{DEPLOYMENTS}/{created['id']}", headers=tenant.headers()).json() == created
