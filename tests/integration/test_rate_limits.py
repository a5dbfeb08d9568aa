"""Rate limits over HTTP: each tier refuses with 429 + headers, login throttling, Redis failover.

Every test builds its own app and container (same database and secret as the session, so the
session's tenants and keys work) with tight limits, so the session's app is never throttled.
Limits are per hour: the sliding-window counter weights the previous window, so at a window
boundary it may admit one extra hit — hour windows keep the counts in these tests exact.
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from maestro_ml.api.app import create_app
from maestro_ml.bootstrap import Container, build_container
from maestro_ml.config import Settings
from tests.factories import PASSWORD, Actors

MakeClient = Callable[..., tuple[TestClient, Container]]
HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")


@pytest.fixture
def limited(settings: Settings) -> Iterator[MakeClient]:
    """``limited(ip_read="3/hour", client=("10.0.0.1", 1))`` → a client over a fresh app."""
    built: list[Container] = []

    def make(client: tuple[str, int] = ("testclient", 50000), **overrides: Any
             ) -> tuple[TestClient, Container]:
        # Own in-memory counters unless a test names a Redis: tight per-IP budgets must not
        # share Redis keys with the rest of the session (every TestClient is "testclient").
        update = {"run_worker": False, "redis_url": None, **{
            k if k in ("redis_url", "trusted_proxies") or k.startswith("rate_limit_")
            else f"rate_limit_{k}": v for k, v in overrides.items()}}
        container = build_container(settings.model_copy(update=update), migrate=False)
        built.append(container)
        app = create_app(container)
        return TestClient(app, raise_server_exceptions=False, client=client), container

    yield make
    for container in built:
        container.close()


def assert_refused(response: Any, tier: str) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "rate_limited" and body["tier"] == tier
    assert f"{tier} tier" in body["detail"] and body["limit"] in body["detail"]
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["ratelimit-remaining"] == "0"


def test_ip_tier_refuses_after_budget_with_headers_and_spares_probes(
    limited: MakeClient, tenant: Actors
) -> None:
    client, container = limited(ip_read="3/hour")
    headers = tenant.headers("viewer")
    answers = [client.get("/api/v1/models", headers=headers) for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [r.headers["ratelimit-remaining"] for r in answers[:3]] == ["2", "1", "0"]
    assert all(r.headers["ratelimit-limit"] == "3" for r in answers)
    assert all(0 <= int(r.headers["ratelimit-reset"]) <= 3600 for r in answers)
    assert_refused(answers[3], "ip")
    # the IP tier applies before authentication: no credentials, still refused
    assert client.get("/api/v1/models").status_code == 429
    assert client.get("/healthz").status_code == 200
    assert "ratelimit-limit" not in client.get("/healthz").headers
    assert client.get("/openapi.json").status_code == 200
    # another class has its own budget
    created = client.post("/api/v1/api-keys", json={"name": "k"},
                          headers=tenant.headers("tenant_admin"))
    assert created.status_code == 201, created.text
    assert container.rate_limiter.rejections == {"ip": 2}


def test_key_tier_limits_one_key_and_not_its_neighbour(
    limited: MakeClient, tenant: Actors
) -> None:
    client, container = limited(key_read="2/hour")
    first, second = tenant.headers("viewer"), tenant.headers("data_scientist")
    answers = [client.get("/api/v1/models", headers=first) for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 429]
    assert_refused(answers[2], "key")
    assert answers[0].headers["ratelimit-limit"] == "2"
    assert client.get("/api/v1/models", headers=second).status_code == 200
    assert container.rate_limiter.rejections == {"key": 1}


def test_tenant_tier_is_shared_by_the_tenants_keys_and_spares_other_tenants(
    limited: MakeClient, tenant: Actors, other_tenant: Actors
) -> None:
    client, _ = limited(tenant_read="4/hour")
    keys = [tenant.headers("viewer"), tenant.headers("ml_engineer")]
    statuses = [client.get("/api/v1/models", headers=keys[i % 2]).status_code
                for i in range(4)]
    assert statuses == [200, 200, 200, 200]
    for headers in keys:
        assert_refused(client.get("/api/v1/models", headers=headers), "tenant")
    other = client.get("/api/v1/models", headers=other_tenant.headers("viewer"))
    assert other.status_code == 200
    assert other.headers["ratelimit-remaining"] == "3"


def test_write_limit_leaves_reads_alone(limited: MakeClient, tenant: Actors) -> None:
    client, _ = limited(key_write="1/hour")
    headers = tenant.headers("tenant_admin")
    assert client.post("/api/v1/api-keys", json={"name": "a"}, headers=headers).status_code == 201
    assert_refused(client.post("/api/v1/api-keys", json={"name": "b"}, headers=headers), "key")
    assert client.get("/api/v1/api-keys", headers=headers).status_code == 200


def test_login_is_throttled_per_account_even_with_the_right_password(
    limited: MakeClient, tenant: Actors
) -> None:
    client, _ = limited(login_account="2/hour")
    email = tenant.emails["viewer"]
    wrong = [client.post("/api/v1/auth/token", json={"email": email, "password": "nope-nope"})
             for _ in range(2)]
    assert [r.status_code for r in wrong] == [401, 401]
    right = client.post("/api/v1/auth/token",
                        json={"email": email.upper(), "password": PASSWORD})
    assert_refused(right, "login_account")
    other = client.post("/api/v1/auth/token",
                        json={"email": tenant.emails["data_scientist"], "password": PASSWORD})
    assert other.status_code == 200
    assert other.headers["ratelimit-limit"] == "2"


def test_login_is_throttled_per_ip_across_accounts(limited: MakeClient) -> None:
    client, _ = limited(login_ip="3/hour")
    statuses = [
        client.post("/api/v1/auth/token",
                    json={"email": f"nobody{i}@example.com", "password": "x"}).status_code
        for i in range(4)
    ]
    assert statuses == [401, 401, 401, 429]
    assert client.post("/api/v1/auth/token", json={"email": "a@example.com", "password": "x"}
                       ).json()["tier"] == "login_ip"


def test_forwarded_for_is_honoured_only_from_trusted_proxies(
    limited: MakeClient, tenant: Actors
) -> None:
    headers = tenant.headers("viewer")
    proxied, _ = limited(ip_read="2/hour", trusted_proxies=["10.1.0.0/16"],
                         client=("10.1.0.5", 4000))

    def via(client_ip: str) -> int:
        forwarded = {**headers, "X-Forwarded-For": f"{client_ip}, 10.1.0.9"}
        return proxied.get("/api/v1/models", headers=forwarded).status_code

    assert [via("203.0.113.7") for _ in range(3)] == [200, 200, 429]
    assert via("203.0.113.8") == 200
    direct, _ = limited(ip_read="2/hour", trusted_proxies=["10.1.0.0/16"],
                        client=("198.51.100.1", 4000))
    spoofed = [direct.get("/api/v1/models",
                          headers={**headers, "X-Forwarded-For": f"192.0.2.{i}"}).status_code
               for i in range(3)]
    assert spoofed == [200, 200, 429]


def test_session_app_sends_rate_limit_headers_on_success(
    client: TestClient, tenant: Actors
) -> None:
    first = client.get("/api/v1/models", headers=tenant.headers("viewer"))
    second = client.get("/api/v1/models", headers=tenant.headers("viewer"))
    assert first.status_code == second.status_code == 200
    assert all(name in first.headers for name in HEADERS)
    assert int(second.headers["ratelimit-remaining"]) < int(first.headers["ratelimit-remaining"])


# --- Redis: shared budget, failover to memory, return to Redis ---------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    probe = redis.Redis(port=port, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if probe.ping():
                return process
        except redis.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"redis-server did not start on port {port}")


def stop_redis(process: subprocess.Popen[bytes]) -> None:
    process.kill()
    process.wait(timeout=10)


@pytest.fixture
def redis_port() -> Iterator[int]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    yield free_port()


def test_limits_go_through_redis_and_survive_it_going_away(
    limited: MakeClient, tenant: Actors, redis_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    server = start_redis(redis_port)
    try:
        url = f"redis://127.0.0.1:{redis_port}/0"
        a, container_a = limited(key_read="4/hour", redis_url=url,
                                 redis_probe_seconds=0.2)
        b, _ = limited(key_read="4/hour", redis_url=url, redis_probe_seconds=0.2)
        headers = tenant.headers("viewer")
        # two app instances share one budget through Redis
        statuses = [(a if i % 2 else b).get("/api/v1/models", headers=headers).status_code
                    for i in range(5)]
        assert statuses == [200, 200, 200, 200, 429]
        assert redis.Redis(port=redis_port).keys("maestro-rl*")
        assert container_a.rate_limiter.backend.active == "redis"

        stop_redis(server)
        with caplog.at_level(logging.WARNING, logger="maestro_ml.rate_limits"):
            during = [a.get("/api/v1/models", headers=headers) for _ in range(5)]
        # answered from in-process counters: no outage, and still limited
        assert [r.status_code for r in during] == [200, 200, 200, 200, 429]
        assert_refused(during[4], "key")
        assert container_a.rate_limiter.backend.active == "memory"
        assert any("Redis is unreachable" in r.getMessage() for r in caplog.records)

        server = start_redis(redis_port)
        time.sleep(0.3)  # past the probe interval
        back = a.get("/api/v1/models", headers=headers)
        assert back.status_code == 200  # the restarted Redis lost its counts
        assert container_a.rate_limiter.backend.active == "redis"
        assert redis.Redis(port=redis_port).keys("maestro-rl*")
    finally:
        stop_redis(server)
