"""Tenant isolation, generated from the route table.

Tenant B gets one object of every kind. Tenant A's admin then calls every route that takes an
id with B's ids (and every create route that references other objects with B's ids in the
body): everything answers 404, B's objects are unchanged afterwards, and no list route of A
shows any of B's ids. A route added later is covered automatically; a path parameter this
test cannot fill makes it fail, so nobody can add an id route without isolation coverage.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from maestro_ml.api.app import api_routes
from tests.factories import PASSWORD, Actors, make_tenant, unique
from tests.integration.tenant_world import populate


@pytest.fixture(scope="module")
def tenant(client: TestClient, root_token: str) -> Actors:
    return make_tenant(client, root_token)


@pytest.fixture(scope="module")
def other_tenant(client: TestClient, root_token: str) -> Actors:
    return make_tenant(client, root_token)


@pytest.fixture(scope="module")
def populated(client: TestClient, other_tenant: Actors) -> dict[str, Any]:
    """One object of every kind in tenant B; returns their ids."""
    return populate(client, other_tenant).ids


def fill(path: str, ids: dict[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        if name not in ids:
            raise AssertionError(f"no tenant-B value for path parameter '{name}' in {path}")
        if name == "key" and "/metrics/" in path:
            return str(ids["metric_key"])
        return str(ids[name])

    return re.sub(r"\{([^}]+)\}", value, path)


SAMPLE_VALUES: dict[str, Any] = {
    "key": "team", "value": "a", "stage": "Archived", "version": 1,
    "features": {"x1": 1, "x2": 2}, "status": "FINISHED", "target": "label",
}


def body_for(openapi: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    """A body with every required field filled, built from the OpenAPI document, so the
    request gets past validation and reaches the lookup that must answer 404."""
    operation = openapi["paths"].get(path, {}).get(method.lower(), {})
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    if not schema:
        return {}
    schema = resolve(openapi, schema)
    body: dict[str, Any] = {}
    defaults = {"integer": 1, "number": 1.0, "boolean": False, "array": [], "object": {}}
    python_types = {"integer": int, "number": (int, float), "boolean": bool, "array": list,
                    "object": dict, "string": str}
    for name in schema.get("required", []):
        kind = resolve(openapi, schema["properties"][name]).get("type", "string")
        sample = SAMPLE_VALUES.get(name)
        if sample is not None and isinstance(sample, python_types.get(kind, str)):
            body[name] = sample
        else:
            body[name] = defaults.get(kind, "x")
    return body


def resolve(openapi: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = openapi["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if "anyOf" in schema:
        schema = next((resolve(openapi, s) for s in schema["anyOf"] if s.get("type") != "null"),
                      schema)
    return schema


def collect_ids(ids: dict[str, Any]) -> set[str]:
    return {v for k, v in ids.items() if k.endswith("_id") and isinstance(v, str)}


def test_every_id_route_answers_404_for_another_tenants_objects(
    client: TestClient, tenant: Actors, other_tenant: Actors, populated: dict[str, Any]
):
    attacker = tenant.headers("tenant_admin")
    openapi = client.app.openapi()
    checked = []
    for method, path, _ in api_routes(client.app):
        if "{" not in path:
            continue
        url = fill(path, populated)
        for variant in {url, url.replace(populated["id_or_name"], populated["deployment_id"])}:
            if method == "PUT" and "/artifacts/" in path:
                response = client.put(variant, headers=attacker, content=b"overwrite")
            else:
                body = body_for(openapi, method, path)
                response = client.request(method, variant, headers=attacker, json=body)
            assert response.status_code == 404, (
                f"{method} {variant} answered {response.status_code}: {response.text[:200]}"
            )
            checked.append(f"{method} {path}")
    assert len(checked) >= 40

    owner = other_tenant.headers("tenant_admin")
    # nothing of B's changed
    assert client.get(f"/api/v1/models/{populated['model_id']}", headers=owner).status_code == 200
    content = client.get(f"/api/v1/runs/{populated['run_id']}/artifacts/notes/readme.txt",
                         headers=owner)
    assert content.content == b"secret of " + other_tenant.tenant_id.encode()
    run = client.get(f"/api/v1/runs/{populated['run_id']}", headers=owner).json()
    assert run["tags"]["team"] == "b" and run["lifecycle_stage"] == "active"
    prediction = client.post(f"/api/v1/deployments/{populated['id_or_name']}/predict",
                             headers=owner, json={"features": {"x1": 1, "x2": 2}})
    assert prediction.status_code == 200, prediction.text
    assert client.get("/api/v1/auth/me", headers=owner).status_code == 200


def test_create_routes_refuse_references_to_another_tenants_objects(
    client: TestClient, tenant: Actors, populated: dict[str, Any]
):
    attacker = tenant.headers("tenant_admin")
    attempts = [
        ("/api/v1/runs", {"experiment_id": populated["experiment_id"]}),
        ("/api/v1/deployments", {"model_id": populated["model_id"]}),
        ("/api/v1/experiments", {"name": unique("e"), "model_id": populated["model_id"]}),
        ("/api/v1/experiments", {"name": unique("e"), "dataset_id": populated["dataset_id"]}),
        ("/api/v1/experiments", {
            "model_id": populated["model_id"], "dataset_id": populated["dataset_id"],
            "target": "label", "parameters": {"estimator": "DecisionTreeClassifier"}}),
        ("/api/v1/users", {"email": f"{unique('x')}@example.com", "password": PASSWORD,
                           "role": "viewer", "tenant_id": populated["tenant_id"]}),
    ]
    for path, body in attempts:
        response = client.post(path, headers=attacker, json=body)
        assert response.status_code == 404, f"POST {path} {body}: {response.status_code}"
    search = client.post("/api/v1/runs/search", headers=attacker,
                         json={"experiment_ids": [populated["experiment_id"]]})
    assert search.status_code in (200, 404)
    if search.status_code == 200:
        assert search.json()["items"] == []


def test_list_routes_never_show_another_tenants_rows(
    client: TestClient, tenant: Actors, populated: dict[str, Any]
):
    attacker = tenant.headers("tenant_admin")
    foreign = collect_ids(populated) - {populated["tenant_id"]}
    listed = 0
    for method, path, _ in api_routes(client.app):
        if method != "GET" or "{" in path or path in ("/healthz", "/readyz"):
            continue
        response = client.get(path, headers=attacker)
        if response.status_code != 200:
            continue
        leaked = [ident for ident in foreign if ident in response.text]
        assert leaked == [], f"GET {path} leaked {leaked}"
        listed += 1
    assert listed >= 8
