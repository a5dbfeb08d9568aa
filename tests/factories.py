"""Factories with random names: tenants with a user and an API key per role, objects."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

ROLES = ["viewer", "data_scientist", "ml_engineer", "tenant_admin"]
PASSWORD = "correct-horse-battery-42"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class Actors:
    tenant_id: str
    name: str
    keys: dict[str, str] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)

    def headers(self, role: str = "tenant_admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


def make_tenant(client: httpx.Client | Any, root_token: str) -> Actors:
    root = {"Authorization": f"Bearer {root_token}"}
    response = client.post("/api/v1/tenants", json={"name": unique("tenant")}, headers=root)
    assert response.status_code == 201, response.text
    tenant = response.json()
    actors = Actors(tenant_id=tenant["id"], name=tenant["name"])
    for role in ROLES:
        email = f"{unique(role)}@example.com"
        body = {"email": email, "password": PASSWORD, "role": role, "tenant_id": tenant["id"]}
        created = client.post("/api/v1/users", json=body, headers=root)
        assert created.status_code == 201, created.text
        token = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
        assert token.status_code == 200, token.text
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        key = client.post("/api/v1/api-keys", json={"name": f"{role}-key"}, headers=auth)
        assert key.status_code == 201, key.text
        actors.keys[role] = key.json()["key"]
        actors.emails[role] = email
    return actors
