"""Mass assignment: ownership and bookkeeping fields in request bodies are never applied.

Every JSON body of every write route gets each of ``tenant_id``, ``role``, ``owner``,
``user_id``, ``created_by``, ``id`` and ``created_at`` that its schema does not declare:
the strict schemas answer 422 naming the field, and the object is not created. Where a
schema does declare one (a user's role, a key's role, a user's tenant), the value cannot
raise the caller above its own role or reach another tenant: checked on the stored object.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.factories import PASSWORD, Actors, unique

from .conftest import Tally, World
from .probing import api_routes, body_schema, fill, headers_for, valid_body

SMUGGLED: dict[str, Any] = {
    "tenant_id": "0" * 32, "role": "platform_admin", "owner": "attacker", "user_id": "0" * 32,
    "created_by": "attacker", "id": "f" * 32, "created_at": "2000-01-01T00:00:00Z",
}


def test_undeclared_ownership_fields_are_refused_on_every_write_route(
    client: TestClient, world: World, root_token: str, tally: Tally
):
    openapi = client.app.openapi()
    admin, root = world.attacker.headers(), {"Authorization": f"Bearer {root_token}"}
    tried, violations = 0, []
    for method, path, route in api_routes(client.app):
        schema = body_schema(openapi, method, path)
        if schema is None:
            continue
        url = fill(path, world.attacker.ids)
        for field, value in SMUGGLED.items():
            if field in schema["properties"]:
                continue
            body = {**valid_body(openapi, method, path, world.attacker.ids), field: value}
            response = client.request(method, url, json=body,
                                      headers=headers_for(client, admin, root, route))
            tried += 1
            fields = [e.get("field") for e in response.json().get("errors") or []]
            if response.status_code != 422 or field not in fields:
                violations.append(f"{method} {path} +{field}: {response.status_code} "
                                  f"{response.text[:160]}")
    tally.record("mass assignment", tried, violations)
    assert violations == []
    assert tried >= 70


CREATES = [
    ("/api/v1/models", lambda n: {"name": n, "task": "regression", "framework": "sklearn"},
     "/api/v1/models?name={n}"),
    ("/api/v1/experiments", lambda n: {"name": n}, "/api/v1/experiments?name={n}"),
    ("/api/v1/api-keys", lambda n: {"name": n}, "/api/v1/api-keys"),
]


def test_a_valid_create_with_a_smuggled_field_stores_nothing(
    client: TestClient, tenant: Actors, tally: Tally
):
    h = tenant.headers("tenant_admin")
    openapi = client.app.openapi()
    tried, violations = 0, []
    for path, make, listing in CREATES:
        declared = body_schema(openapi, "POST", path) or {"properties": {}}
        for field, value in SMUGGLED.items():
            if field in declared["properties"]:
                continue  # the role test below covers declared fields
            name = unique("mass")
            response = client.post(path, headers=h, json={**make(name), field: value})
            tried += 1
            stored = client.get(listing.format(n=name), headers=h).json()["items"]
            if response.status_code != 422 or any(item["name"] == name for item in stored):
                violations.append(f"POST {path} +{field}: {response.status_code}")
    tally.record("mass assignment", tried, violations)
    assert violations == []


def test_declared_role_fields_cannot_raise_a_caller_above_its_own_role(
    client: TestClient, tenant: Actors, other_tenant: Actors, tally: Tally
):
    admin = tenant.headers("tenant_admin")
    tried, violations = 0, []

    def check(ok: bool, what: str) -> None:
        nonlocal tried
        tried += 1
        if not ok:
            violations.append(what)

    email = f"{unique('climber')}@example.com"
    created = client.post("/api/v1/users", headers=admin, json={
        "email": email, "password": PASSWORD, "role": "platform_admin"})
    users = client.get("/api/v1/users", headers=admin).json()["items"]
    check(created.status_code in (403, 422) and all(u["email"] != email for u in users),
          f"tenant admin created a platform admin: {created.status_code}")

    foreign = client.post("/api/v1/users", headers=admin, json={
        "email": email, "password": PASSWORD, "role": "viewer",
        "tenant_id": other_tenant.tenant_id})
    theirs = client.get("/api/v1/users", headers=other_tenant.headers()).json()["items"]
    check(foreign.status_code in (403, 404) and all(u["email"] != email for u in theirs),
          f"tenant admin created a user in another tenant: {foreign.status_code}")

    me = client.get("/api/v1/auth/me", headers=admin).json()
    promoted = client.patch(f"/api/v1/users/{me['user_id']}", headers=admin,
                            json={"role": "platform_admin"})
    after = client.get("/api/v1/auth/me", headers=admin).json()
    check(promoted.status_code in (403, 422) and after["role"] == "tenant_admin",
          f"tenant admin promoted itself: {promoted.status_code} -> {after['role']}")

    for role in ("viewer", "data_scientist", "ml_engineer"):
        key = client.post("/api/v1/api-keys", headers=tenant.headers(role),
                          json={"name": unique("k"), "role": "tenant_admin"})
        if key.status_code == 201:
            me = client.get("/api/v1/auth/me", headers={"Authorization":
                                                       f"Bearer {key.json()['key']}"}).json()
            check(me["role"] == role, f"{role} minted a {me['role']} key")
        else:
            check(key.status_code in (403, 422), f"{role} key with a higher role: "
                                                 f"{key.status_code}")
        viewer_id = client.get("/api/v1/auth/me", headers=tenant.headers(role)).json()["user_id"]
        raised = client.patch(f"/api/v1/users/{viewer_id}", headers=tenant.headers(role),
                              json={"role": "tenant_admin"})
        check(raised.status_code == 403, f"{role} changed a role: {raised.status_code}")
        still = client.get("/api/v1/auth/me", headers=tenant.headers(role)).json()["role"]
        check(still == role, f"{role} is now {still}")
    tally.record("mass assignment", tried, violations)
    assert violations == []
