"""Experiments over HTTP: lifecycle, unique names, listing, tenancy and roles."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.factories import Actors, unique
from tests.integration.training_setup import breast_cancer_csv, create_model, upload

API = "/api/v1/experiments"


def create(client: TestClient, actors: Actors, **body: object) -> dict:
    response = client.post(API, json=body, headers=actors.headers("data_scientist"))
    assert response.status_code == 201, response.text
    return response.json()


def test_experiment_lifecycle_create_read_edit_delete_restore(client: TestClient, tenant: Actors):
    name = unique("churn")
    created = create(client, tenant, name=name, description="first", tags={"team": "growth"})
    assert created["name"] == name and created["lifecycle_stage"] == "active"
    assert created["tags"] == {"team": "growth"} and created["description"] == "first"
    assert created["job_id"] is None and created["run_id"] is None
    assert re.fullmatch(r"[0-9a-f]{32}", created["id"])
    headers = tenant.headers("data_scientist")

    fetched = client.get(f"{API}/{created['id']}", headers=tenant.headers("viewer"))
    assert fetched.status_code == 200 and fetched.json() == created

    renamed = unique("churn-v2")
    patched = client.patch(f"{API}/{created['id']}", headers=headers,
                           json={"name": renamed, "description": None, "tags": {"team": "core"}})
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["name"] == renamed and body["description"] is None
    assert body["tags"] == {"team": "core"} and body["updated_at"] >= created["updated_at"]

    assert client.delete(f"{API}/{created['id']}", headers=headers).status_code == 204
    deleted = client.get(f"{API}/{created['id']}", headers=headers).json()
    assert deleted["lifecycle_stage"] == "deleted"
    listed = client.get(API, params={"name": renamed}, headers=headers).json()["items"]
    assert listed == []
    in_deleted = client.get(API, params={"name": renamed, "view": "deleted"}, headers=headers)
    assert [e["id"] for e in in_deleted.json()["items"]] == [created["id"]]

    restored = client.post(f"{API}/{created['id']}/restore", headers=headers)
    assert restored.status_code == 200 and restored.json()["lifecycle_stage"] == "active"
    listed = client.get(API, params={"name": renamed}, headers=headers).json()["items"]
    assert [e["id"] for e in listed] == [created["id"]]


def test_experiment_names_are_unique_per_tenant_even_when_deleted(
    client: TestClient, tenant: Actors, other_tenant: Actors
):
    name = unique("dup")
    first = create(client, tenant, name=name)
    again = client.post(API, json={"name": name}, headers=tenant.headers("data_scientist"))
    assert again.status_code == 409 and again.json()["code"] == "already_exists"
    assert name in again.json()["detail"]

    # Another tenant may use the same name.
    assert create(client, other_tenant, name=name)["name"] == name

    client.delete(f"{API}/{first['id']}", headers=tenant.headers("data_scientist"))
    after_delete = client.post(API, json={"name": name}, headers=tenant.headers("data_scientist"))
    assert after_delete.status_code == 409 and "restore" in after_delete.json()["detail"]

    other = create(client, tenant, name=unique("other"))
    rename = client.patch(f"{API}/{other['id']}", json={"name": name},
                          headers=tenant.headers("data_scientist"))
    assert rename.status_code == 409


def test_experiment_name_is_generated_when_absent(client: TestClient, tenant: Actors):
    first, second = create(client, tenant), create(client, tenant)
    assert re.fullmatch(r"experiment-[0-9a-f]{8}", first["name"])
    assert first["name"] != second["name"]


def test_blank_name_and_training_fields_without_target_are_422(
    client: TestClient, tenant: Actors
):
    headers = tenant.headers("data_scientist")
    blank = client.post(API, json={"name": "   "}, headers=headers)
    assert blank.status_code == 422 and "experiment name" in blank.json()["detail"]
    stray = client.post(API, json={"parameters": {"estimator": "rf"}}, headers=headers)
    assert stray.status_code == 422 and "target" in stray.json()["detail"]


def test_list_filters_by_exact_name_and_substring_and_pages_newest_first(
    client: TestClient, tenant: Actors
):
    marker = unique("lst")
    ids = [create(client, tenant, name=f"{marker}-{i}")["id"] for i in range(5)]
    headers = tenant.headers("viewer")
    exact = client.get(API, params={"name": f"{marker}-3"}, headers=headers).json()["items"]
    assert [e["id"] for e in exact] == [ids[3]]

    seen, cursor = [], None
    while True:
        params = {"q": marker.upper(), "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(API, params=params, headers=headers).json()
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))


def test_unknown_model_or_dataset_link_is_404(client: TestClient, tenant: Actors):
    headers = tenant.headers("data_scientist")
    for field in ("model_id", "dataset_id"):
        response = client.post(API, json={field: "0" * 32}, headers=headers)
        assert response.status_code == 404, (field, response.text)


def test_another_tenants_experiment_is_404_on_every_route_and_never_listed(
    client: TestClient, tenant: Actors, other_tenant: Actors
):
    theirs = create(client, other_tenant, name=unique("secret"))
    headers = tenant.headers("tenant_admin")
    url = f"{API}/{theirs['id']}"
    train = {"target": "y", "parameters": {"estimator": "random_forest"}}
    attempts = [
        client.get(url, headers=headers),
        client.patch(url, json={"description": "mine now"}, headers=headers),
        client.delete(url, headers=headers),
        client.post(f"{url}/restore", headers=headers),
        client.post(f"{url}/train", json=train, headers=headers),
    ]
    assert [r.status_code for r in attempts] == [404] * len(attempts)
    listed = client.get(API, params={"view": "all", "limit": 1000}, headers=headers).json()
    assert theirs["id"] not in {e["id"] for e in listed["items"]}
    by_name = client.get(API, params={"name": theirs["name"]}, headers=headers).json()["items"]
    assert by_name == []
    untouched = client.get(url, headers=other_tenant.headers("viewer")).json()
    assert untouched["lifecycle_stage"] == "active" and untouched["description"] is None


def test_viewer_cannot_change_experiments(client: TestClient, tenant: Actors):
    mine = create(client, tenant, name=unique("ro"))
    viewer = tenant.headers("viewer")
    url = f"{API}/{mine['id']}"
    attempts = [
        client.post(API, json={"name": unique("nope")}, headers=viewer),
        client.patch(url, json={"description": "x"}, headers=viewer),
        client.delete(url, headers=viewer),
        client.post(f"{url}/restore", headers=viewer),
        client.post(f"{url}/train", json={"target": "y", "parameters": {}}, headers=viewer),
    ]
    assert [r.status_code for r in attempts] == [403] * len(attempts)
    assert client.get(url, headers=viewer).json()["lifecycle_stage"] == "active"


def test_training_fields_delegate_to_training_in_a_new_or_existing_experiment(
    client: TestClient, tenant: Actors
):
    model = create_model(client, tenant)
    dataset = upload(client, tenant, breast_cancer_csv()).json()
    headers = tenant.headers("data_scientist")
    name = unique("trained")
    created = client.post(API, headers=headers, json={
        "name": name, "model_id": model["id"], "dataset_id": dataset["id"], "target": "target",
        "parameters": {"estimator": "LogisticRegression", "max_iter": 200},
        "tags": {"origin": "test"},
    })
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == name and body["tags"] == {"origin": "test"}
    assert body["job_id"] and body["run_id"]
    run = client.get(f"/api/v1/runs/{body['run_id']}", headers=headers).json()
    assert run["experiment_id"] == body["id"] and run["job_id"] == body["job_id"]

    again = client.post(f"{API}/{body['id']}/train", headers=headers, json={
        "target": "target", "parameters": {"estimator": "LogisticRegression"}})
    assert again.status_code == 202, again.text
    assert again.json()["experiment_id"] == body["id"]
    assert again.json()["run_id"] != body["run_id"]
    listed = client.get("/api/v1/runs", params={"experiment_id": body["id"], "view": "all"},
                        headers=headers).json()["items"]
    assert {r["id"] for r in listed} == {body["run_id"], again.json()["run_id"]}
