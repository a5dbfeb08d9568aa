"""Security headers on every response (errors included), the trusted-host check, CORS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from maestro_ml.api.app import create_app
from maestro_ml.api.middleware.security_headers import (
    SecurityHeadersMiddleware,
    TrustedHostMiddleware,
    host_of,
)
from maestro_ml.bootstrap import Container, build_container
from maestro_ml.config import Settings
from tests.factories import Actors

API_HEADERS = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}


def assert_api_headers(response) -> None:  # type: ignore[no-untyped-def]
    for name, value in API_HEADERS.items():
        assert response.headers.get(name) == value, (name, response.status_code)
    assert "camera=()" in response.headers["permissions-policy"]
    assert "microphone=()" in response.headers["permissions-policy"]
    assert "geolocation=()" in response.headers["permissions-policy"]
    assert "server" not in response.headers
    assert "strict-transport-security" not in response.headers  # plain http, not forced


def test_success_responses_carry_the_headers(client: TestClient, tenant: Actors):
    assert_api_headers(client.get("/healthz"))
    assert_api_headers(client.get("/api/v1/datasets", headers=tenant.headers("viewer")))


def test_error_responses_carry_the_headers(client: TestClient, tenant: Actors, settings: Settings):
    assert_api_headers(client.get("/api/v1/no-such-route"))  # 404 from the router
    assert_api_headers(client.get("/api/v1/datasets"))  # 401
    assert_api_headers(client.get(f"/api/v1/datasets/{'0' * 32}", headers=tenant.headers()))
    too_big = client.post("/api/v1/runs", headers={**tenant.headers(), "Content-Length": str(
        settings.max_body_bytes + 1)}, content=b"{}")
    assert too_big.status_code == 413
    assert_api_headers(too_big)
    deep = client.post("/api/v1/runs", headers=tenant.headers(),
                       content=b"[" * 100 + b"]" * 100,
                       )
    assert_api_headers(deep)
    assert_api_headers(client.get("/api/v1/datasets", headers={"Host": "evil.example"}))


def test_a_route_setting_its_own_header_keeps_it():
    app = FastAPI()

    @app.get("/cached")
    def cached():  # type: ignore[no-untyped-def]
        from fastapi.responses import JSONResponse

        return JSONResponse({}, headers={"Cache-Control": "max-age=60"})

    wrapped = SecurityHeadersMiddleware(app, hsts_seconds=60, hsts_always=True)
    with TestClient(wrapped) as client:
        response = client.get("/cached")
    assert response.headers.get_list("cache-control") == ["max-age=60"]
    assert response.headers["strict-transport-security"] == "max-age=60"


def test_unhandled_errors_answer_500_with_the_headers(container: Container):
    app = create_app(container)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    assert_api_headers(response)


def test_hsts_only_over_https(client: TestClient):
    secure = client.get("https://testserver/healthz")
    assert secure.headers["strict-transport-security"] == "max-age=31536000"
    assert "strict-transport-security" not in client.get("/healthz").headers


def test_docs_get_a_csp_that_lets_swagger_load_from_its_cdn(client: TestClient):
    docs = client.get("/docs")
    assert docs.status_code == 200
    csp = docs.headers["content-security-policy"]
    assert "https://cdn.jsdelivr.net" in csp and "frame-ancestors 'none'" in csp
    assert "cdn.jsdelivr.net" in docs.text  # the page really loads from there
    assert "https://cdn.jsdelivr.net" in client.get("/redoc").headers["content-security-policy"]
    assert client.get("/openapi.json").headers["content-security-policy"] == API_HEADERS[
        "content-security-policy"]


@pytest.mark.parametrize("host", ["evil.example", "attacker.test:8000", "127.0.0.2", "[::2]"])
def test_an_unknown_host_is_refused_with_problem_json(client: TestClient, host: str):
    response = client.get("/healthz", headers={"Host": host})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_host"
    assert response.json()["setting"] == "MAESTRO_ALLOWED_HOSTS"


@pytest.mark.parametrize("host", ["testserver", "localhost:8000", "127.0.0.1:8000", "TestServer"])
def test_allowed_hosts_pass(client: TestClient, host: str):
    assert client.get("/healthz", headers={"Host": host}).status_code == 200


def test_default_allowed_hosts_are_loopback_and_the_servers_own_names():
    plain = Settings(_env_file=None)
    assert plain.resolved_allowed_hosts == ["localhost", "127.0.0.1", "[::1]"]
    public = Settings(_env_file=None, public_url="https://ml.example.com/", host="0.0.0.0")
    assert public.resolved_allowed_hosts == ["localhost", "127.0.0.1", "[::1]", "ml.example.com"]
    bound = Settings(_env_file=None, host="10.1.2.3")
    assert "10.1.2.3" in bound.resolved_allowed_hosts


def test_host_matching_handles_ipv6_ports_and_wildcards():
    assert host_of("[::1]:8000") == "[::1]"
    assert host_of("Example.COM:443") == "example.com"
    check = TrustedHostMiddleware(None, ["*.example.com", "[::1]"])  # type: ignore[arg-type]
    assert check.allowed("api.example.com") and check.allowed("[::1]")
    assert not check.allowed("example.com.evil.test") and not check.allowed("evilexample.com")


def test_cors_is_closed_by_default(client: TestClient):
    preflight = client.options("/api/v1/datasets", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in preflight.headers
    simple = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


@pytest.fixture(scope="module")
def cors_client(settings: Settings) -> Iterator[TestClient]:
    container = build_container(settings.model_copy(update={
        "cors_origins": ["https://app.example"], "run_worker": False}))
    with TestClient(create_app(container)) as client:
        yield client
    container.close()


def test_cors_allows_exactly_the_configured_origins(cors_client: TestClient):
    allowed = cors_client.options("/api/v1/datasets", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Authorization"})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-credentials" not in allowed.headers
    assert "DELETE" in allowed.headers["access-control-allow-methods"]
    refused = cors_client.options("/api/v1/datasets", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    assert_api_headers(refused)
