"""Requests built from the route table and the OpenAPI document, and raw ASGI requests.

Bodies get every required field (the samples of the isolation test, plus an email and a
password that pass validation) and every ``*_id``/``*_ids`` field filled with the caller's
own ids, so one field at a time can carry the attack while the rest of the request is valid.
Raw requests go to the app without httpx, which would collapse ``..`` segments in the URL.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient

from maestro_ml.api.app import api_routes, route_permission
from maestro_ml.auth.permissions import ROLE_PERMISSIONS, Role
from tests.factories import PASSWORD
from tests.integration.test_tenant_isolation import body_for, fill, resolve

__all__ = ["api_routes", "fill", "resolve", "route_permission"]

JSON_TYPES = ("application/json", "application/problem+json")
WRITE_METHODS = {"POST", "PUT", "PATCH"}
# Body fields that hold ids under a name other than the object kind's.
ID_ALIASES = {"parent_run_id": "run_id", "object_id": "run_id", "actor_id": "user_id"}


def headers_for(client: TestClient, admin: dict[str, str], root: dict[str, str],
                route: Any) -> dict[str, str]:
    """A tenant admin's headers, or the platform admin's where the route needs more."""
    permission = route_permission(route)
    if permission and permission not in ROLE_PERMISSIONS[Role.TENANT_ADMIN]:
        return root
    return admin


def operation(openapi: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return openapi["paths"].get(path, {}).get(method.lower(), {})  # type: ignore[no-any-return]


def body_schema(openapi: dict[str, Any], method: str, path: str) -> dict[str, Any] | None:
    """The resolved JSON object schema of a route's body, or None (no body, free-form, form)."""
    content = operation(openapi, method, path).get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    if not schema:
        return None
    schema = resolve(openapi, schema)
    return schema if schema.get("properties") else None


def id_for(field: str, ids: dict[str, Any]) -> str | list[str]:
    """The value of an id field taken from ``ids``; an unknown id field fails loudly so a
    new one cannot go untested."""
    source = ID_ALIASES.get(field, field)
    plural = source.endswith("_ids")
    if plural:
        source = source[:-1]
    if source not in ids:
        raise AssertionError(f"no id known for body/query field '{field}': add it to the battery")
    return [ids[source]] if plural else str(ids[source])


def random_id(field: str) -> str | list[str]:
    """An id that names nothing, for callers that hold no objects."""
    return [uuid.uuid4().hex] if field.endswith("_ids") else uuid.uuid4().hex


def is_id_field(name: str) -> bool:
    return name.endswith("_id") or name.endswith("_ids")


def valid_body(openapi: dict[str, Any], method: str, path: str,
               ids: dict[str, Any]) -> dict[str, Any]:
    """Required fields filled; id fields (required or not) set to ``ids``' objects."""
    schema = body_schema(openapi, method, path)
    if schema is None:
        return {}
    body = body_for(openapi, method, path)
    for name in schema["properties"]:
        if name == "email" and name in body:
            body[name] = f"{uuid.uuid4().hex[:10]}@example.com"
        elif name == "password" and name in body:
            body[name] = PASSWORD
        elif name == "tenant_id":
            continue  # optional and only for the platform admin: leave the caller's tenant
        elif is_id_field(name) and (name in body or name.endswith("_ids")):
            body[name] = id_for(name, ids) if ids else random_id(name)
    return body


def string_fields(openapi: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    return [
        name for name, prop in schema["properties"].items()
        if resolve(openapi, prop).get("type") == "string" and "enum" not in resolve(openapi, prop)
    ]


def map_fields(openapi: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Fields holding a string-to-string map (tags): keys and values are attack surface."""
    result = []
    for name, prop in schema["properties"].items():
        values = resolve(openapi, prop).get("additionalProperties")
        if resolve(openapi, prop).get("type") == "object" and isinstance(values, dict) \
                and values.get("type") == "string":
            result.append(name)
    return result


def query_params(openapi: dict[str, Any], method: str, path: str) -> list[tuple[str, str]]:
    """(name, JSON type) of every query parameter of an operation."""
    result = []
    for param in operation(openapi, method, path).get("parameters", []):
        if param.get("in") == "query":
            schema = resolve(openapi, param.get("schema", {}))
            result.append((param["name"], schema.get("type", "string")))
    return result


def is_json(response: Any) -> bool:
    return response.headers.get("content-type", "").split(";")[0].strip() in JSON_TYPES


def raw_request(client: TestClient, method: str, path: str, headers: dict[str, str],
                body: bytes = b"", query: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """Send ``path`` to the app exactly as given (already decoded, as a server would)."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": quote(path, safe="/%").encode(),
        "root_path": "", "query_string": query, "server": ("testserver", 80),
        "client": ("testclient", 50000),
        "headers": [(b"host", b"testserver"), (b"content-length", str(len(body)).encode())]
        + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    sent: dict[str, Any] = {"status": 0, "headers": {}, "body": b""}

    async def call() -> None:
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]
                sent["headers"] = {k.decode().lower(): v.decode()
                                   for k, v in message.get("headers", [])}
            elif message["type"] == "http.response.body":
                sent["body"] += message.get("body", b"")

        await client.app(scope, receive, send)

    client.portal.call(call)  # the app's own event loop, as TestClient requests use
    return sent["status"], sent["headers"], sent["body"]
