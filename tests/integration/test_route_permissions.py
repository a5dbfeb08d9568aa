"""Every route declares a permission, and a viewer is refused every write it is not granted.

Both tests walk ``app.routes``: a route added tomorrow is covered without editing them.
"""

from __future__ import annotations

import re
import uuid

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from maestro_ml.api.app import api_routes as all_api_routes
from maestro_ml.api.app import route_permission
from maestro_ml.auth.permissions import ROLE_PERMISSIONS, SELF_SERVICE, Role
from tests.factories import Actors

# Routes that must answer without credentials: probes, login/refresh/logout, API docs.
PUBLIC = {
    ("GET", "/healthz"), ("GET", "/readyz"),
    ("POST", "/api/v1/auth/token"), ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout"),
}
PUBLIC_PATHS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/metrics"}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def api_routes(client: TestClient) -> list[tuple[str, str, APIRoute]]:
    return all_api_routes(client.app)


def fill_path(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda _: uuid.uuid4().hex, path)


def test_every_route_declares_a_permission(client: TestClient):
    missing = [
        f"{method} {path}"
        for method, path, route in api_routes(client)
        if (method, path) not in PUBLIC and path not in PUBLIC_PATHS
        and route_permission(route) is None
    ]
    assert missing == [], f"routes without require(...): {missing}"
    assert len(api_routes(client)) > 20


def test_every_declared_permission_exists(client: TestClient):
    known = ROLE_PERMISSIONS[Role.PLATFORM_ADMIN]
    unknown = {
        route_permission(route) for _, _, route in api_routes(client)
    } - known - {None}
    assert unknown == set()


def test_viewer_role_holds_only_reads_and_self_service():
    granted = ROLE_PERMISSIONS[Role.VIEWER]
    assert {p for p in granted if not p.endswith(":read")} == SELF_SERVICE


def test_viewer_gets_403_on_every_write_route(client: TestClient, tenant: Actors):
    viewer = tenant.headers("viewer")
    checked = []
    for method, path, route in api_routes(client):
        permission = route_permission(route)
        if method not in WRITE_METHODS or permission is None:
            continue
        if permission in ROLE_PERMISSIONS[Role.VIEWER]:
            continue
        response = client.request(method, fill_path(path), headers=viewer, json={})
        assert response.status_code == 403, f"{method} {path}: {response.status_code}"
        assert response.json()["code"] == "permission_denied"
        checked.append(path)
    assert len(checked) >= 10


def test_unauthenticated_requests_get_401_everywhere(client: TestClient):
    for method, path, _ in api_routes(client):
        if (method, path) in PUBLIC or path in PUBLIC_PATHS:
            continue
        response = client.request(method, fill_path(path), json={})
        assert response.status_code == 401, f"{method} {path}: {response.status_code}"
