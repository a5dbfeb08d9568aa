"""Function-level authorization: the role × route matrix.

For each tenant role and every route that declares a permission, the answer is 403
(``permission_denied``) exactly when the role lacks that permission, from
``ROLE_PERMISSIONS``: a route whose check is missing, or a role holding more than it is
granted, both show up. Ids are random, so a permitted call stops at 404 or 422 and changes
nothing of value.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from maestro_ml.auth.permissions import ROLE_PERMISSIONS, Role
from tests.factories import ROLES, Actors
from tests.integration.test_route_permissions import fill_path

from .conftest import Tally
from .probing import api_routes, route_permission, valid_body


def test_each_role_is_refused_exactly_the_routes_it_lacks_permission_for(
    client: TestClient, tenant: Actors, tally: Tally
):
    openapi = client.app.openapi()
    tried, violations = 0, []
    for method, path, route in api_routes(client.app):
        permission = route_permission(route)
        if permission is None:
            continue
        url = fill_path(path)
        for role in ROLES:
            granted = permission in ROLE_PERMISSIONS[Role(role)]
            if method == "PUT" and "/artifacts/" in path:
                response = client.put(url, headers=tenant.headers(role), content=b"x")
            else:
                body = valid_body(openapi, method, path, {})
                response = client.request(method, url, headers=tenant.headers(role), json=body)
            tried += 1
            refused = response.status_code == 403
            if refused == granted or response.status_code >= 500:
                violations.append(f"{role} {method} {path} ({permission}): "
                                  f"{response.status_code} {response.text[:160]}")
            elif refused and response.json().get("code") != "permission_denied":
                violations.append(f"{role} {method} {path}: 403 without permission_denied")
    tally.record("function-level authz", tried, violations)
    assert violations == []
    assert tried >= 4 * 50
