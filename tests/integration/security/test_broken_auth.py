"""Broken authentication: forged, expired, mis-addressed and revoked credentials get 401.

Tokens are forged here with the server's own signing secret (read from the settings the way
bootstrap reads it), so each case fails for the one reason it names: a re-signed copy of a
genuine token is accepted first, as the control.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import orjson
import pytest
from fastapi.testclient import TestClient

from maestro_ml.bootstrap import Container
from maestro_ml.config import Settings
from tests.factories import PASSWORD, Actors, unique

from .conftest import Tally

ME = "/api/v1/auth/me"


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()


def signing_secret(settings: Settings) -> str:
    jwt_secret = getattr(settings, "jwt_secret", None)
    return jwt_secret.get_secret_value() if jwt_secret else settings.resolved_secret_key()


@pytest.fixture
def genuine(client: TestClient, tenant: Actors) -> str:
    response = client.post("/api/v1/auth/token", json={
        "email": tenant.emails["data_scientist"], "password": PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def forge(token: str, secret: str, claims: dict[str, Any] | None = None,
          header: dict[str, Any] | None = None, drop: tuple[str, ...] = ()) -> str:
    payload = {**jwt.decode(token, options={"verify_signature": False}), **(claims or {})}
    for name in drop:
        payload.pop(name, None)
    headers = {**jwt.get_unverified_header(token), **(header or {})}
    headers.pop("alg", None)
    return jwt.encode(payload, secret, algorithm="HS256", headers=headers)


def unsigned(token: str, alg: str, claims: dict[str, Any] | None = None) -> str:
    payload = {**jwt.decode(token, options={"verify_signature": False}), **(claims or {})}
    header = {**jwt.get_unverified_header(token), "alg": alg}
    return f"{b64(header)}.{b64(payload)}."


def sign_raw(token: str, secret: str, header: dict[str, Any]) -> str:
    """HS256 by hand, for headers the JWT library refuses to write."""
    payload = jwt.decode(token, options={"verify_signature": False})
    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT', **header})}.{b64(payload)}"
    digest = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def test_forged_and_misaddressed_tokens_are_refused(
    client: TestClient, settings: Settings, genuine: str, tally: Tally
):
    secret = signing_secret(settings)
    control = client.get(ME, headers=bearer(forge(genuine, secret)))
    assert control.status_code == 200, control.text  # the forger signs like the server
    now = int(time.time())
    head, body, signature = genuine.split(".")
    flipped = "AAAA" if signature[-4:] != "AAAA" else "BBBB"
    tampered_body = b64({**jwt.decode(genuine, options={"verify_signature": False}),
                         "role": "platform_admin"})
    cases = {
        "expired": forge(genuine, secret, {"exp": now - 60, "iat": now - 3600}),
        "not yet valid": forge(genuine, secret, {"nbf": now + 3600}),
        "tampered claims": f"{head}.{tampered_body}.{signature}",
        "tampered signature": f"{head}.{body}.{signature[:-4]}{flipped}",
        "no signature": f"{head}.{body}.",
        "alg none": unsigned(genuine, "none"),
        "alg None": unsigned(genuine, "None", {"role": "tenant_admin"}),
        "alg NONE": unsigned(genuine, "NONE"),
        "alg HS256 unsigned": unsigned(genuine, "HS256"),
        "wrong audience": forge(genuine, secret, {"aud": "someone-else"}),
        "wrong issuer": forge(genuine, secret, {"iss": "https://evil.example"}),
        "no audience": forge(genuine, secret, drop=("aud",)),
        "no expiry": forge(genuine, secret, drop=("exp",)),
        "refresh typ": forge(genuine, secret, {"typ": "refresh"}),
        "no typ": forge(genuine, secret, drop=("typ",)),
        "unknown role": forge(genuine, secret, {"role": "superuser"}),
        "other key": forge(genuine, "not-the-server-secret-" + "x" * 40),
        "unknown kid": forge(genuine, secret, header={"kid": "0" * 16}),
        "kid traversal": forge(genuine, secret, header={"kid": "../../../../dev/null"}),
        "kid not a string": sign_raw(genuine, secret, {"kid": 7}),
        "truncated": genuine[: len(genuine) // 2],
        "two parts": f"{head}.{body}",
        "four parts": f"{genuine}.{signature}",
    }
    violations = []
    for name, token in cases.items():
        response = client.get(ME, headers=bearer(token))
        if response.status_code != 401:
            violations.append(f"{name}: {response.status_code} {response.text[:120]}")
    tally.record("broken auth", len(cases) + 1, violations)
    assert violations == []


def test_revoked_expired_and_orphaned_api_keys_are_refused(
    client: TestClient, container: Container, tenant: Actors, tally: Tally
):
    admin = tenant.headers("tenant_admin")
    email = f"{unique('leaver')}@example.com"
    user = client.post("/api/v1/users", headers=admin,
                       json={"email": email, "password": PASSWORD, "role": "ml_engineer"})
    assert user.status_code == 201, user.text
    token = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    own = bearer(token.json()["access_token"])
    keys = {name: client.post("/api/v1/api-keys", headers=own, json={"name": name}).json()
            for name in ("revoked", "expired", "orphaned", "control")}
    assert client.get(ME, headers=bearer(keys["control"]["key"])).status_code == 200

    assert client.delete(f"/api/v1/api-keys/{keys['revoked']['id']}",
                         headers=own).status_code in (200, 204)
    with container.uow.for_tenant(tenant.tenant_id) as uow:
        row = uow.api_keys.get(keys["expired"]["id"])
        row.expires_at = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=1)
        uow.commit()
    expired = client.get(ME, headers=bearer(keys["expired"]["key"]))
    revoked = client.get(ME, headers=bearer(keys["revoked"]["key"]))
    assert client.delete(f"/api/v1/users/{user.json()['id']}", headers=admin).status_code in (
        200, 204)
    orphaned = client.get(ME, headers=bearer(keys["orphaned"]["key"]))
    # (the deleted user's access token is stateless and lives out its short TTL)
    results = {"revoked": revoked, "expired": expired, "deleted user's key": orphaned}
    violations = [f"{name}: {r.status_code}" for name, r in results.items()
                  if r.status_code != 401]
    tally.record("broken auth", len(results) + 1, violations)
    assert violations == []


def test_garbage_missing_and_duplicate_authorization_headers_are_refused(
    client: TestClient, tenant: Actors, other_tenant: Actors, tally: Tally
):
    valid = tenant.headers("viewer")["Authorization"]
    other = other_tenant.headers("viewer")["Authorization"]
    variants: dict[str, list[tuple[str, str]] | list[tuple[bytes, bytes]]] = {
        "missing": [],
        "empty": [("Authorization", "")],
        "scheme only": [("Authorization", "Bearer")],
        "scheme and space": [("Authorization", "Bearer ")],
        "basic": [("Authorization", "Basic cm9vdDpyb290")],
        "wrong scheme": [("Authorization", valid.replace("Bearer", "Token"))],
        "key prefix only": [("Authorization", "Bearer mk_")],
        "random key": [("Authorization", "Bearer mk_" + "A" * 43)],
        "refresh token": [("Authorization", "Bearer mr_" + "A" * 43)],
        "two words": [("Authorization", valid + " extra")],
        "long": [("Authorization", "Bearer " + "x" * 16_000)],
        "sql": [("Authorization", "Bearer ' OR 1=1 --")],
        "non-ascii": [(b"Authorization", b"Bearer \xff\xfe\xfd")],
        "valid then garbage": [("Authorization", valid), ("Authorization", "Bearer junk")],
        "garbage then valid": [("Authorization", "Bearer junk"), ("Authorization", valid)],
        "two tenants": [("Authorization", valid), ("Authorization", other)],
        "same twice": [("Authorization", valid), ("Authorization", valid)],
    }
    violations = []
    for name, headers in variants.items():
        response = client.get(ME, headers=headers)
        if response.status_code not in (400, 401):
            violations.append(f"{name}: {response.status_code} {response.text[:120]}")
    tally.record("broken auth", len(variants), violations)
    assert violations == []
