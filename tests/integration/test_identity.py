"""Login, tokens, API keys, users and tenants over HTTP against the real database."""

from __future__ import annotations

import time

import jwt
from fastapi.testclient import TestClient

from tests.factories import PASSWORD, Actors, unique


def test_login_returns_short_lived_jwt_with_audience_and_issuer(client: TestClient, tenant: Actors):
    response = client.post("/api/v1/auth/token", json={
        "email": tenant.emails["viewer"], "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["expires_in"] == 15 * 60 and body["refresh_token"].startswith("mr_")
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["aud"] == "maestro-api" and claims["iss"] == "maestro-ml"
    assert claims["tid"] == tenant.tenant_id and claims["role"] == "viewer"
    assert claims["exp"] - claims["iat"] == 15 * 60


def test_wrong_password_and_unknown_user_get_the_same_401(client: TestClient, tenant: Actors):
    wrong = client.post("/api/v1/auth/token", json={
        "email": tenant.emails["viewer"], "password": "not-the-password"})
    unknown = client.post("/api/v1/auth/token", json={
        "email": "nobody@example.com", "password": "not-the-password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"] == "invalid email or password"
    assert wrong.headers["content-type"] == "application/problem+json"


def test_refresh_rotates_and_reuse_revokes_the_family(client: TestClient, tenant: Actors):
    first = client.post("/api/v1/auth/token", json={
        "email": tenant.emails["data_scientist"], "password": PASSWORD}).json()
    second = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    reuse = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401 and "reuse" in reuse.json()["detail"]
    # the legitimately rotated token died with its family
    after = client.post("/api/v1/auth/refresh", json={
        "refresh_token": second.json()["refresh_token"]})
    assert after.status_code == 401


def test_logout_revokes_the_refresh_token(client: TestClient, tenant: Actors):
    pair = client.post("/api/v1/auth/token", json={
        "email": tenant.emails["viewer"], "password": PASSWORD}).json()
    assert client.post("/api/v1/auth/logout", json={
        "refresh_token": pair["refresh_token"]}).status_code == 204
    assert client.post("/api/v1/auth/refresh", json={
        "refresh_token": pair["refresh_token"]}).status_code == 401


def test_tampered_and_alg_none_tokens_are_rejected(client: TestClient, tenant: Actors):
    pair = client.post("/api/v1/auth/token", json={
        "email": tenant.emails["viewer"], "password": PASSWORD}).json()
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    claims["role"] = "platform_admin"
    forged = jwt.encode(claims, "a-guessed-secret-of-at-least-32-bytes", algorithm="HS256")
    unsigned = jwt.encode(claims, None, algorithm="none")
    for token in (forged, unsigned, pair["access_token"][:-3] + "abc"):
        response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token


def test_missing_credentials_answer_401_with_www_authenticate(client: TestClient):
    response = client.get("/api/v1/auth/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["code"] == "unauthenticated"


def test_api_key_is_shown_once_and_stored_only_as_hmac(
    client: TestClient, tenant: Actors, container
):
    created = client.post("/api/v1/api-keys", json={"name": "ci"}, headers=tenant.headers())
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("mk_") and len(key) >= 3 + 43  # 256 bits, base64url
    listed = client.get("/api/v1/api-keys", headers=tenant.headers()).json()["items"]
    assert all("key" not in item for item in listed)
    with container.uow.system(write=False) as uow:
        row = uow.api_keys.get(created.json()["id"])
        assert key not in (row.key_hash, row.prefix) and len(row.key_hash) == 64
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200 and me.json()["role"] == "tenant_admin"


def test_revoked_and_expired_keys_stop_working(client: TestClient, tenant: Actors, container):
    created = client.post("/api/v1/api-keys", json={"name": "short", "expires_in_days": 1},
                          headers=tenant.headers()).json()
    auth = {"Authorization": f"Bearer {created['key']}"}
    assert client.get("/api/v1/auth/me", headers=auth).status_code == 200
    revoked = client.delete(f"/api/v1/api-keys/{created['id']}", headers=tenant.headers())
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert client.get("/api/v1/auth/me", headers=auth).status_code == 401


def test_api_key_records_last_used(client: TestClient, tenant: Actors):
    created = client.post("/api/v1/api-keys", json={"name": "used"},
                          headers=tenant.headers()).json()
    assert created["last_used_at"] is None
    client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {created['key']}"})
    listed = client.get("/api/v1/api-keys", headers=tenant.headers()).json()["items"]
    assert next(k for k in listed if k["id"] == created["id"])["last_used_at"]


def test_key_cannot_exceed_the_owners_role(client: TestClient, tenant: Actors):
    response = client.post("/api/v1/api-keys", json={"name": "x", "role": "tenant_admin"},
                           headers=tenant.headers("viewer"))
    assert response.status_code == 403


def test_tenant_admin_creates_users_only_in_own_tenant(
    client: TestClient, tenant: Actors, other_tenant: Actors
):
    body = {"email": f"{unique('u')}@example.com", "password": PASSWORD, "role": "viewer"}
    own = client.post("/api/v1/users", json=body, headers=tenant.headers())
    assert own.status_code == 201 and own.json()["tenant_id"] == tenant.tenant_id
    foreign = client.post("/api/v1/users", headers=tenant.headers(), json={
        **body, "email": f"{unique('u')}@example.com", "tenant_id": other_tenant.tenant_id})
    assert foreign.status_code == 404
    higher = client.post("/api/v1/users", headers=tenant.headers(), json={
        **body, "email": f"{unique('u')}@example.com", "role": "platform_admin"})
    assert higher.status_code == 403


def test_weak_password_and_bad_email_are_422(client: TestClient, tenant: Actors):
    weak = client.post("/api/v1/users", headers=tenant.headers(), json={
        "email": f"{unique('u')}@example.com", "password": "short", "role": "viewer"})
    assert weak.status_code == 422 and "at least 12" in weak.json()["detail"]
    bad = client.post("/api/v1/users", headers=tenant.headers(), json={
        "email": "not-an-email", "password": PASSWORD, "role": "viewer"})
    assert bad.status_code == 422


def test_duplicate_email_is_409(client: TestClient, tenant: Actors):
    body = {"email": tenant.emails["viewer"], "password": PASSWORD, "role": "viewer"}
    assert client.post("/api/v1/users", json=body, headers=tenant.headers()).status_code == 409


def test_account_locks_after_repeated_failures(client: TestClient, tenant: Actors):
    email = tenant.emails["ml_engineer"]
    for _ in range(5):
        client.post("/api/v1/auth/token", json={"email": email, "password": "wrong-password!"})
    locked = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert locked.status_code == 401 and "locked" in locked.json()["detail"]
    assert int(locked.headers["retry-after"]) > 0


def test_unknown_fields_are_rejected_not_assigned(client: TestClient, tenant: Actors):
    response = client.post("/api/v1/api-keys", headers=tenant.headers("viewer"),
                           json={"name": "x", "tenant_id": "other", "user_id": "someone"})
    assert response.status_code == 422


def test_disabled_user_keys_stop_working(client: TestClient, tenant: Actors):
    users = client.get("/api/v1/users", headers=tenant.headers()).json()["items"]
    viewer = next(u for u in users if u["role"] == "viewer")
    patched = client.patch(f"/api/v1/users/{viewer['id']}", json={"is_active": False},
                           headers=tenant.headers())
    assert patched.status_code == 200 and patched.json()["is_active"] is False
    time.sleep(0.01)
    assert client.get("/api/v1/auth/me", headers=tenant.headers("viewer")).status_code == 401
