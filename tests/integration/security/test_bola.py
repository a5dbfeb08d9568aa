"""BOLA: the victim tenant's ids in the path, the query and the body of every route.

Generated from the route table and the OpenAPI document: every path id of every route, every
query parameter and body field named ``*_id``/``*_ids``. The attacker is a tenant admin
with its own objects, so the rest of each request is valid and only the foreign id can
make it fail. Expected: 404 (or an empty answer for a filter), and no victim id in any reply.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from .conftest import Tally, World
from .probing import (
    api_routes,
    body_schema,
    fill,
    id_for,
    is_id_field,
    query_params,
    valid_body,
)

PUBLIC_PREFIXES = ("/healthz", "/readyz", "/api/v1/auth/token", "/api/v1/auth/refresh",
                   "/api/v1/auth/logout")


def victim_ids(world: World) -> set[str]:
    return {v for k, v in world.victim.ids.items()
            if k.endswith("_id") and k != "tenant_id" and isinstance(v, str)}


def leaked(text: str, world: World, sent: object = "") -> list[str]:
    """Victim ids in a reply, other than those the request itself carried (a 404 may name
    the id it could not find)."""
    return [ident for ident in victim_ids(world) if ident in text and ident not in str(sent)]


def send(client: TestClient, method: str, url: str, headers: dict[str, str],
         body: dict[str, Any] | None = None, params: dict[str, Any] | None = None) -> Any:
    if method == "PUT" and "/artifacts/" in url:
        return client.put(url, headers=headers, content=b"overwrite", params=params)
    return client.request(method, url, headers=headers, json=body, params=params)


def test_victim_ids_in_the_path_answer_404_on_every_route(
    client: TestClient, world: World, tally: Tally
):
    attacker = world.attacker.headers()
    openapi = client.app.openapi()
    victim = world.victim.ids
    tried, violations = 0, []
    for method, path, _ in api_routes(client.app):
        if "{" not in path:
            continue
        url = fill(path, victim)
        for variant in {url, url.replace(victim["id_or_name"], victim["deployment_id"])}:
            body = valid_body(openapi, method, path, world.attacker.ids)
            response = send(client, method, variant, attacker, body)
            tried += 1
            if response.status_code != 404 or leaked(response.text, world, variant):
                violations.append(f"{method} {variant}: {response.status_code}")
    tally.record("BOLA path", tried, violations)
    assert violations == []
    assert tried >= 40


def test_victim_ids_in_query_parameters_filter_to_nothing(
    client: TestClient, world: World, tally: Tally
):
    attacker = world.attacker.headers()
    openapi = client.app.openapi()
    tried, violations = 0, []
    for method, path, _ in api_routes(client.app):
        if path.startswith(PUBLIC_PREFIXES):
            continue
        for name, _kind in query_params(openapi, method, path):
            if not is_id_field(name):
                continue
            url = fill(path, world.attacker.ids)
            response = send(client, method, url, attacker,
                            valid_body(openapi, method, path, world.attacker.ids),
                            params={name: id_for(name, world.victim.ids)})
            tried += 1
            sent = (url, id_for(name, world.victim.ids))
            if response.status_code not in (200, 404) or leaked(response.text, world, sent):
                violations.append(f"{method} {url}?{name}=: {response.status_code} "
                                  f"{response.text[:200]}")
    tally.record("BOLA query", tried, violations)
    assert violations == []
    assert tried >= 3


def test_victim_ids_in_request_bodies_are_refused(
    client: TestClient, world: World, tally: Tally
):
    attacker = world.attacker.headers()
    openapi = client.app.openapi()
    tried, violations = 0, []
    for method, path, _ in api_routes(client.app):
        schema = body_schema(openapi, method, path)
        if schema is None or path.startswith(PUBLIC_PREFIXES):
            continue
        for name in schema["properties"]:
            if not is_id_field(name):
                continue
            body = valid_body(openapi, method, path, world.attacker.ids)
            body[name] = id_for(name, world.victim.ids)
            url = fill(path, world.attacker.ids)
            response = send(client, method, url, attacker, body)
            tried += 1
            # 200 only for a filter that finds nothing: the victim's id is never echoed back
            ok = response.status_code == 404 or (
                response.status_code == 200 and body[name] not in (None, "")
                and str(id_for(name, world.victim.ids)).strip("[]'") not in response.text
            )
            if not ok or leaked(response.text, world, (url, body)):
                violations.append(f"{method} {url} {name}: {response.status_code} "
                                  f"{response.text[:200]}")
    tally.record("BOLA body", tried, violations)
    assert violations == []
    assert tried >= 6


def test_victim_objects_are_unchanged_after_the_attacks(client: TestClient, world: World):
    owner = world.victim.headers()
    ids = world.victim.ids
    run = client.get(f"/api/v1/runs/{ids['run_id']}", headers=owner).json()
    assert run["tags"]["team"] == "b" and run["lifecycle_stage"] == "active"
    content = client.get(f"/api/v1/runs/{ids['run_id']}/artifacts/notes/readme.txt",
                         headers=owner)
    assert content.content == b"secret of " + ids["tenant_id"].encode()
    model = client.get(f"/api/v1/models/{ids['model_id']}", headers=owner).json()
    assert model["aliases"] == {"champion": 1}
    deployment = client.get(f"/api/v1/deployments/{ids['deployment_id']}", headers=owner)
    assert deployment.status_code == 200
    keys = client.get("/api/v1/api-keys", headers=owner).json()["items"]
    assert all(key["revoked_at"] is None for key in keys)
