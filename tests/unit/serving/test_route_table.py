"""The route table: keyed by tenant, by id and name, expiring, invalidated per deployment."""

from __future__ import annotations

from maestro_ml.serving.route_table import Route, RouteTable


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def route(tenant: str = "t1", deployment: str = "d1", name: str = "churn", version: int = 1):
    return Route(
        tenant_id=tenant, deployment_id=deployment, deployment_name=name, model_id="m1",
        model_version_id=f"v{version}", version=version, artifact_key="k", validator=None,
    )


def test_route_is_found_by_id_and_name_in_its_tenant_only():
    table = RouteTable(5.0)
    table.put(route())

    assert table.get("t1", "d1") == table.get("t1", "churn") == route()
    assert table.get("t2", "churn") is None and table.get("t2", "d1") is None


def test_routes_expire_after_the_ttl():
    clock = Clock()
    table = RouteTable(5.0, clock=clock)
    table.put(route())

    clock.now += 4.9
    assert table.get("t1", "churn") is not None
    clock.now += 0.2
    assert table.get("t1", "churn") is None


def test_invalidate_drops_every_key_of_the_deployment_only():
    table = RouteTable(5.0)
    table.put(route())
    table.put(route(deployment="d2", name="fraud"))
    table.put(route(tenant="t2", deployment="d3", name="churn"))

    table.invalidate("t1", "d1")

    assert table.get("t1", "d1") is None and table.get("t1", "churn") is None
    assert table.get("t1", "fraud") is not None and table.get("t2", "churn") is not None


def test_a_reused_name_is_not_dropped_with_the_old_deployment():
    table = RouteTable(5.0)
    table.put(route(deployment="old"))
    table.put(route(deployment="new"))  # same name, another deployment since

    table.invalidate("t1", "old")

    assert table.get("t1", "churn").deployment_id == "new"


def test_put_replaces_the_previous_route_of_a_deployment():
    table = RouteTable(5.0)
    table.put(route(version=1))

    table.put(route(version=2))

    assert table.get("t1", "d1").version == 2 and len(table) == 2


def test_one_caller_is_asked_to_refresh_a_route_before_it_expires():
    clock = Clock()
    table = RouteTable(5.0, clock=clock)
    table.put(route())
    assert not table.claim_refresh("t1", "churn")  # fresh
    clock.now += 4.1  # past 80% of its lifetime, still live
    assert table.get("t1", "churn") is not None
    assert table.claim_refresh("t1", "churn")
    assert not table.claim_refresh("t1", "churn")  # claimed once; others keep serving it
    assert table.get("t1", "churn") is not None
    table.put(route(version=2))  # the refresh lands: a new lifetime, claimable again later
    clock.now += 4.1
    assert table.get("t1", "churn").version == 2
    assert table.claim_refresh("t1", "churn")
    clock.now += 1.0
    assert table.get("t1", "churn") is None  # a refresh that never lands: it still expires
    assert not table.claim_refresh("t1", "churn")
