"""Tokens and keys: JWT checks, signing-key rotation, API-key rotation, password policy,
and the end of an account lock."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import jwt
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import text

from maestro_ml.api.app import create_app
from maestro_ml.auth.tokens import key_id
from maestro_ml.bootstrap import Container, build_container
from maestro_ml.config import Settings
from tests.factories import PASSWORD, Actors, unique

ME = "/api/v1/auth/me"
KEYS = "/api/v1/api-keys"


def login(client: TestClient, email: str, password: str = PASSWORD):
    return client.post("/api/v1/auth/token", json={"email": email, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims_for(tenant: Actors, settings: Settings, **changes) -> dict:
    now = int(time.time())
    claims = {"sub": uuid.uuid4().hex, "tid": tenant.tenant_id, "role": "viewer",
              "iss": settings.jwt_issuer, "aud": settings.jwt_audience, "iat": now,
              "exp": now + 60, "typ": "access"}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def signed(claims: dict, secret: str, algorithm: str = "HS256", **headers) -> str:
    return jwt.encode(claims, secret, algorithm=algorithm, headers=headers or None)


# -- JWT checks ------------------------------------------------------------------------------
def test_a_well_formed_token_signed_with_the_secret_is_accepted(
    client: TestClient, tenant: Actors, settings: Settings
):
    token = signed(claims_for(tenant, settings), settings.secret_key.get_secret_value())
    assert client.get(ME, headers=bearer(token)).status_code == 200


@pytest.mark.parametrize("missing", ["exp", "aud", "iss", "typ", "iat", "tid", "sub", "role"])
def test_a_token_missing_a_required_claim_is_401(
    client: TestClient, tenant: Actors, settings: Settings, missing: str
):
    claims = claims_for(tenant, settings, **{missing: None})
    token = signed(claims, settings.secret_key.get_secret_value())
    response = client.get(ME, headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


@pytest.mark.parametrize("change", [
    {"typ": "refresh"}, {"aud": "someone-else"}, {"iss": "evil"},
    {"exp": int(time.time()) - 3600},
])
def test_wrong_type_audience_issuer_or_expiry_is_401(
    client: TestClient, tenant: Actors, settings: Settings, change: dict
):
    token = signed(claims_for(tenant, settings, **change), settings.secret_key.get_secret_value())
    assert client.get(ME, headers=bearer(token)).status_code == 401


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_algorithms_outside_the_allow_list_are_401_even_with_the_right_key(
    client: TestClient, tenant: Actors, settings: Settings, algorithm: str
):
    token = signed(claims_for(tenant, settings), settings.secret_key.get_secret_value(), algorithm)
    assert client.get(ME, headers=bearer(token)).status_code == 401


def test_alg_none_is_401(client: TestClient, tenant: Actors, settings: Settings):
    token = jwt.encode(claims_for(tenant, settings), None, algorithm="none")
    assert client.get(ME, headers=bearer(token)).status_code == 401


# -- signing-key rotation --------------------------------------------------------------------
def test_issued_tokens_name_their_key_by_a_short_hash_not_the_key(
    client: TestClient, tenant: Actors, settings: Settings
):
    token = login(client, tenant.emails["viewer"]).json()["access_token"]
    header = jwt.get_unverified_header(token)
    secret = settings.secret_key.get_secret_value()
    assert header["kid"] == key_id(secret) and len(header["kid"]) == 16
    assert header["kid"] not in secret


@contextmanager
def rotated_app(settings: Settings, previous: list[str]) -> Iterator[TestClient]:
    """The same database, served by a process whose JWT signing key was rotated."""
    rotated = settings.model_copy(update={
        "jwt_secret": SecretStr("rotated-" + uuid.uuid4().hex * 2),
        "jwt_previous_secrets": [SecretStr(secret) for secret in previous],
    })
    container = build_container(rotated, migrate=False)
    try:
        yield TestClient(create_app(container), raise_server_exceptions=False)
    finally:
        container.engine.dispose()


def test_after_rotation_old_tokens_work_while_their_key_is_listed_as_previous(
    client: TestClient, tenant: Actors, settings: Settings
):
    old_token = login(client, tenant.emails["viewer"]).json()["access_token"]
    old_secret = settings.secret_key.get_secret_value()
    with rotated_app(settings, [old_secret]) as keeping:
        assert keeping.get(ME, headers=bearer(old_token)).status_code == 200
        new_token = keeping.post("/api/v1/auth/token", json={
            "email": tenant.emails["viewer"], "password": PASSWORD}).json()["access_token"]
        assert jwt.get_unverified_header(new_token)["kid"] != key_id(old_secret)
        assert keeping.get(ME, headers=bearer(new_token)).status_code == 200
    # The old process does not know the new key.
    assert client.get(ME, headers=bearer(new_token)).status_code == 401

    with rotated_app(settings, []) as retired:
        response = retired.get(ME, headers=bearer(old_token))
    assert response.status_code == 401
    assert "key" in response.json()["detail"]


def test_a_token_naming_an_unknown_key_is_401(
    client: TestClient, tenant: Actors, settings: Settings
):
    token = signed(claims_for(tenant, settings), settings.secret_key.get_secret_value(),
                   kid="0123456789abcdef")
    assert client.get(ME, headers=bearer(token)).status_code == 401


# -- refresh tokens --------------------------------------------------------------------------
def test_refresh_rotation_reuse_revokes_the_newer_token_too(client: TestClient, tenant: Actors):
    first = login(client, tenant.emails["viewer"]).json()["refresh_token"]
    second = client.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert second.status_code == 200
    reuse = client.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert reuse.status_code == 401 and "reuse" in reuse.json()["detail"]
    newer = second.json()["refresh_token"]
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": newer}).status_code == 401


# -- API-key rotation ------------------------------------------------------------------------
def new_key(client: TestClient, tenant: Actors, role: str = "data_scientist", **body) -> dict:
    response = client.post(KEYS, json={"name": unique("key"), **body}, headers=tenant.headers(role))
    assert response.status_code == 201, response.text
    return response.json()


def test_rotation_without_grace_revokes_the_old_key_at_once(client: TestClient, tenant: Actors):
    old = new_key(client, tenant, expires_in_days=30)
    rotated = client.post(f"{KEYS}/{old['id']}/rotate", headers=bearer(old["key"]))
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()
    assert new["key"] != old["key"] and new["id"] != old["id"]
    assert (new["name"], new["role"], new["user_id"]) == (old["name"], old["role"], old["user_id"])
    assert new["expires_at"] is not None
    assert client.get(ME, headers=bearer(old["key"])).status_code == 401
    assert client.get(ME, headers=bearer(new["key"])).status_code == 200


def test_rotation_with_grace_keeps_the_old_key_until_the_grace_ends(
    client: TestClient, tenant: Actors
):
    old = new_key(client, tenant)
    rotated = client.post(f"{KEYS}/{old['id']}/rotate", json={"grace_seconds": 1},
                          headers=bearer(old["key"]))
    new = rotated.json()
    assert new["expires_at"] is None
    assert client.get(ME, headers=bearer(old["key"])).status_code == 200
    assert client.get(ME, headers=bearer(new["key"])).status_code == 200
    time.sleep(1.2)
    assert client.get(ME, headers=bearer(old["key"])).status_code == 401
    assert client.get(ME, headers=bearer(new["key"])).status_code == 200


def test_revoking_a_key_in_its_grace_period_stops_it_now(client: TestClient, tenant: Actors):
    old = new_key(client, tenant)
    client.post(f"{KEYS}/{old['id']}/rotate", json={"grace_seconds": 3600},
                headers=tenant.headers("data_scientist"))
    assert client.get(ME, headers=bearer(old["key"])).status_code == 200
    revoked = client.delete(f"{KEYS}/{old['id']}", headers=tenant.headers("data_scientist"))
    assert revoked.status_code == 200
    assert client.get(ME, headers=bearer(old["key"])).status_code == 401


def test_rotation_rules(client: TestClient, tenant: Actors, other_tenant: Actors):
    old = new_key(client, tenant)
    path = f"{KEYS}/{old['id']}/rotate"
    too_long = client.post(path, json={"grace_seconds": 8 * 24 * 3600}, headers=tenant.headers())
    assert too_long.status_code == 422
    # Another user of the tenant (not an admin) and another tenant's admin: no such key.
    assert client.post(path, headers=tenant.headers("viewer")).status_code == 404
    assert client.post(path, headers=other_tenant.headers()).status_code == 404
    assert client.post(path, headers=tenant.headers()).status_code == 201  # tenant admin
    assert client.post(path, headers=tenant.headers()).status_code == 409  # already rotated


# -- passwords and lockout -------------------------------------------------------------------
@pytest.mark.parametrize("password", ["password1234", "Qwertyuiop123", "1q2w3e4r5t6y"])
def test_common_passwords_are_refused(client: TestClient, tenant: Actors, password: str):
    body = {"email": f"{unique('u')}@example.com", "password": password, "role": "viewer"}
    response = client.post("/api/v1/users", json=body, headers=tenant.headers())
    assert response.status_code == 422
    assert "common" in response.json()["detail"]


def test_a_password_equal_to_the_email_is_refused(client: TestClient, tenant: Actors):
    email = f"{unique('someone')}@example.com"
    for password in (email, email.upper(), email.split("@")[0]):
        body = {"email": email, "password": password, "role": "viewer"}
        response = client.post("/api/v1/users", json=body, headers=tenant.headers())
        assert response.status_code == 422, password
        assert "email" in response.json()["detail"]


def test_an_account_lock_expires_and_the_right_password_then_works(
    client: TestClient, tenant: Actors, container: Container
):
    email = f"{unique('locked')}@example.com"
    created = client.post("/api/v1/users", json={
        "email": email, "password": PASSWORD, "role": "viewer"}, headers=tenant.headers())
    assert created.status_code == 201
    for _ in range(5):
        assert login(client, email, "wrong-password-123").status_code == 401
    locked = login(client, email)
    assert locked.status_code == 401 and "locked" in locked.json()["detail"]
    # Time passes: the lock (30 s after the 5th failure) ends.
    with container.engine.begin() as conn:
        conn.execute(text("UPDATE users SET locked_until = :t WHERE email = :e"),
                     {"t": "2000-01-01 00:00:00.000000", "e": email})
    assert login(client, email).status_code == 200
    with container.engine.connect() as conn:
        failures = conn.execute(text("SELECT failed_logins FROM users WHERE email = :e"),
                                {"e": email}).scalar_one()
    assert failures == 0
