"""Cross-replica route invalidation: a change made through one replica reaches the others
through Redis at once, not after the route TTL (set to an hour here)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
import redis
from fastapi.testclient import TestClient

from maestro_ml.api.app import create_app
from maestro_ml.bootstrap import Container, build_container
from maestro_ml.config import Settings
from maestro_ml.serving.route_invalidation import RedisRouteInvalidation
from maestro_ml.serving.route_table import RouteTable
from tests.conftest import REDIS_ENV
from tests.factories import make_tenant
from tests.model_factories import create_model, make_model_version, sample_rows

FALLBACK_REDIS = "redis://127.0.0.1:6379/0"
HOUR = 3600.0


@pytest.fixture(scope="module")
def redis_url() -> str:
    url = os.environ.get(REDIS_ENV) or FALLBACK_REDIS
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {url} (set {REDIS_ENV})")
    return url


def replicas(settings: Settings, redis_url: str | None, stack: ExitStack) -> list[TestClient]:
    """Two apps over the same database, each with its own route table (an hour's TTL)."""
    channel = f"test-routes-{uuid.uuid4().hex}"
    clients = []
    for _ in range(2):
        container: Container = build_container(settings.model_copy(update={
            "redis_url": redis_url, "route_invalidation_channel": channel,
            "route_table_ttl_seconds": HOUR, "run_worker": False,
        }))
        stack.callback(container.close)
        clients.append(stack.enter_context(TestClient(create_app(container))))
    for client in clients:
        invalidation = client.app.state.container.background[-1]
        if redis_url is not None:
            assert isinstance(invalidation, RedisRouteInvalidation)
            assert invalidation.wait_subscribed(10)
    return clients


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def deploy_two_versions(a: TestClient, root_token: str) -> tuple[str, object, dict]:
    tenant = make_tenant(a, root_token)
    model = create_model(a, tenant)
    container = a.app.state.container
    make_model_version(container, tenant.tenant_id, model["id"], seed=0)
    make_model_version(container, tenant.tenant_id, model["id"], seed=3)
    deployed = a.post("/api/v1/deployments", json={"model_id": model["id"], "version": 1},
                      headers=tenant.headers("ml_engineer"))
    assert deployed.status_code == 201, deployed.text
    return deployed.json()["name"], tenant, model


def served_version(client: TestClient, tenant, name: str) -> int:  # noqa: ANN001 - Actors
    response = client.post(f"/api/v1/deployments/{name}/predict",
                           json={"features": sample_rows(1)[0]},
                           headers=tenant.headers("viewer"))
    assert response.status_code == 200, response.text
    return int(response.json()["model_version"])


def wait_for_version(client: TestClient, tenant, name: str, version: int) -> int:  # noqa: ANN001
    deadline = time.monotonic() + 10
    seen = served_version(client, tenant, name)
    while seen != version and time.monotonic() < deadline:
        time.sleep(0.05)
        seen = served_version(client, tenant, name)
    return seen


def test_a_change_through_one_replica_reaches_the_other_at_once(
    settings: Settings, redis_url: str, root_token: str, stack: ExitStack
) -> None:
    a, b = replicas(settings, redis_url, stack)
    name, tenant, _ = deploy_two_versions(a, root_token)
    assert served_version(b, tenant, name) == 1  # B caches the route for an hour

    patched = a.patch(f"/api/v1/deployments/{name}", json={"version": 2},
                      headers=tenant.headers("ml_engineer"))

    assert patched.status_code == 200, patched.text
    assert wait_for_version(b, tenant, name, 2) == 2
    assert b.app.state.container.background[-1].received >= 1


def test_without_redis_the_other_replica_keeps_its_route_until_the_ttl(
    settings: Settings, root_token: str, stack: ExitStack
) -> None:
    a, b = replicas(settings, None, stack)
    name, tenant, _ = deploy_two_versions(a, root_token)
    assert served_version(b, tenant, name) == 1

    a.patch(f"/api/v1/deployments/{name}", json={"version": 2},
            headers=tenant.headers("ml_engineer"))

    # The control: what the test above proves is the broadcast, not a short TTL.
    assert served_version(a, tenant, name) == 2
    assert served_version(b, tenant, name) == 1


def test_an_unreachable_redis_leaves_routes_to_their_ttl() -> None:
    table = RouteTable(ttl_seconds=HOUR)
    invalidation = RedisRouteInvalidation("redis://127.0.0.1:1/0", table, "unused")

    table.invalidate("tenant", "deployment")  # publishing fails, logged, nothing raised
    invalidation.start()
    time.sleep(0.2)
    invalidation.stop()

    assert not invalidation.wait_subscribed(0)


def test_messages_from_other_replicas_drop_entries_and_bad_ones_are_ignored() -> None:
    table = RouteTable(ttl_seconds=HOUR)
    invalidation = RedisRouteInvalidation("redis://127.0.0.1:1/0", table, "unused")
    dropped: list[tuple] = []
    table.invalidate = lambda *args, **kw: dropped.append(("invalidate", *args))  # type: ignore[method-assign]
    table.discard = lambda *args, **kw: dropped.append(("discard", *args))  # type: ignore[method-assign]

    invalidation.apply(b"not json")
    invalidation.apply(
        f'{{"origin": "{invalidation.origin}", "tenant": "t", "deployment": "d", "key": null}}'
    )
    invalidation.apply('{"origin": "other", "tenant": "t", "deployment": "d", "key": "name"}')

    assert dropped == [("invalidate", "t", "d"), ("discard", "t", "name")]
    assert invalidation.received == 1
