"""SQL-injection and XSS corpora against every string field and every string query parameter.

Every string field (and both sides of every string map, such as tags) of every JSON body of
every write route, and every string query parameter of every route, gets each payload in
turn while the rest of the request stays valid. Expected: never a 5xx, and every reply is
JSON (problem+json for errors), so a stored ``<script>`` can only come back as inert data
in a JSON string; once the security headers land, with ``nosniff`` on every reply.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from .conftest import Tally, World
from .corpora import SQL_INJECTION, XSS
from .probing import (
    api_routes,
    body_schema,
    fill,
    headers_for,
    is_id_field,
    is_json,
    map_fields,
    query_params,
    string_fields,
    valid_body,
)

PAYLOADS = SQL_INJECTION + XSS
# Routes whose success answer is a file or a stream by design, not a JSON document.
NON_JSON_OK = ("/content", "/artifacts/", "/export", "/metrics")


def judge(response: Any, path: str, nosniff_expected: bool) -> str | None:
    if response.status_code >= 500:
        return f"{response.status_code} {response.text[:160]}"
    if response.status_code == 204 or not response.content:
        return None
    if not is_json(response) and not (response.status_code < 300 and path.endswith(NON_JSON_OK)):
        if "<script" in response.text.lower():
            return f"reflected script as {response.headers.get('content-type')}"
        return f"non-JSON reply {response.headers.get('content-type')}"
    if nosniff_expected and response.headers.get("x-content-type-options") != "nosniff":
        return "no X-Content-Type-Options: nosniff"
    return None


def nosniff_landed(client: TestClient, world: World) -> bool:
    probe = client.get("/api/v1/models", headers=world.attacker.headers())
    return probe.headers.get("x-content-type-options") == "nosniff"


def test_every_string_body_field_survives_the_corpora(
    client: TestClient, world: World, root_token: str, tally: Tally
):
    openapi = client.app.openapi()
    admin, root = world.attacker.headers(), {"Authorization": f"Bearer {root_token}"}
    nosniff = nosniff_landed(client, world)
    tried, violations = 0, []
    for method, path, route in api_routes(client.app):
        schema = body_schema(openapi, method, path)
        if schema is None:
            continue
        url = fill(path, world.attacker.ids)
        headers = headers_for(client, admin, root, route)
        targets = [(f, False) for f in string_fields(openapi, schema)]
        targets += [(f, True) for f in map_fields(openapi, schema)]
        for field, is_map in targets:
            if field == "password" and "/users/" in path:
                continue  # would change the attacker admin's password: covered on create
            for payload in PAYLOADS:
                body = valid_body(openapi, method, path, world.attacker.ids)
                body[field] = {payload: payload} if is_map else payload
                response = client.request(method, url, headers=headers, json=body)
                tried += 1
                problem = judge(response, path, nosniff)
                if problem:
                    violations.append(f"{method} {path} {field}={payload!r}: {problem}")
    tally.record("injection (body)", tried, violations)
    assert violations == []
    assert tried >= 20 * len(PAYLOADS)


def test_every_string_query_parameter_survives_the_corpora(
    client: TestClient, world: World, root_token: str, tally: Tally
):
    openapi = client.app.openapi()
    admin, root = world.attacker.headers(), {"Authorization": f"Bearer {root_token}"}
    nosniff = nosniff_landed(client, world)
    tried, violations = 0, []
    for method, path, route in api_routes(client.app):
        if method != "GET":
            continue
        url = fill(path, world.attacker.ids)
        headers = headers_for(client, admin, root, route)
        for name, kind in query_params(openapi, method, path):
            if kind != "string" and not is_id_field(name):
                continue
            for payload in PAYLOADS:
                response = client.get(url, headers=headers, params={name: payload})
                tried += 1
                problem = judge(response, path, nosniff)
                if problem:
                    violations.append(f"GET {path}?{name}={payload!r}: {problem}")
    tally.record("injection (query)", tried, violations)
    assert violations == []
    assert tried >= 5 * len(PAYLOADS)
