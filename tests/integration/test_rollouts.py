"""Deployment variants and revisions over HTTP: history, rollback, blue-green, rolling switches
under load, sticky canaries, automatic canary promotion and rollback, approval."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from maestro_ml.auth.permissions import Role
from maestro_ml.auth.principal import Principal
from maestro_ml.bootstrap import Container
from maestro_ml.domain.errors import NotFound
from tests.factories import Actors, make_tenant
from tests.integration.rollout_setup import (
    DEPLOYMENTS,
    change,
    deploy,
    make_failing_version,
    predict,
    revisions,
)
from tests.model_factories import create_model, make_model_version, sample_rows


@pytest.fixture(scope="module")
def tenant(client: TestClient, root_token: str) -> Actors:
    return make_tenant(client, root_token)


@pytest.fixture
def model(client: TestClient, container: Container, tenant: Actors) -> dict:
    """A classifier with versions 1 and 2 (different boundaries) and 3 (always fails)."""
    model = create_model(client, tenant)
    model["v1"] = make_model_version(container, tenant.tenant_id, model["id"], seed=0)
    model["v2"] = make_model_version(container, tenant.tenant_id, model["id"], seed=3)
    make_failing_version(container, tenant.tenant_id, model["id"])
    return model


def current(client: TestClient, tenant: Actors, name: str) -> dict:
    return client.get(f"{DEPLOYMENTS}/{name}", headers=tenant.headers("viewer")).json()


def test_every_change_is_a_revision_and_rollback_copies_an_earlier_one(
    client: TestClient, tenant: Actors, model: dict
):
    name = deploy(client, tenant, model_id=model["id"], version=1, reason="first")["name"]
    change(client, tenant, name, version=2, reason="better boundary")

    rolled = client.post(f"{DEPLOYMENTS}/{name}/rollback", json={"revision": 1},
                         headers=tenant.headers("ml_engineer"))

    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["revision"] == 3 and rolled.json()["version"] == 1
    history = revisions(client, tenant, name)
    assert [(r["number"], r["state"]) for r in history] == [
        (3, "active"), (2, "rolled_back"), (1, "superseded")]
    assert history[0]["reason"] == "rollback to revision 1"
    assert history[1]["reason"] == "better boundary"
    assert history[2]["created_by"] == history[1]["created_by"] is not None
    row = sample_rows(1, seed=2)[0]
    assert predict(client, tenant, name, row).json()["model_version"] == 1
    one = client.get(f"{DEPLOYMENTS}/{name}/revisions/2", headers=tenant.headers("viewer"))
    assert one.json()["variants"][0]["version"] == 2


def test_rollback_without_revision_goes_to_the_previous_and_refuses_unserved(
    client: TestClient, tenant: Actors, model: dict
):
    name = deploy(client, tenant, model_id=model["id"], version=1)["name"]
    change(client, tenant, name, version=2)

    back = client.post(f"{DEPLOYMENTS}/{name}/rollback", json={},
                       headers=tenant.headers("ml_engineer"))
    missing = client.post(f"{DEPLOYMENTS}/{name}/rollback", json={"revision": 99},
                          headers=tenant.headers("ml_engineer"))

    assert back.json()["version"] == 1 and back.json()["revision"] == 3
    assert missing.status_code == 404


def test_blue_green_stages_warm_then_switches_at_once_and_rolls_back(
    client: TestClient, container: Container, tenant: Actors, model: dict
):
    name = deploy(client, tenant, model_id=model["id"], version=1)["name"]
    row = sample_rows(1, seed=4)[0]

    staged = change(client, tenant, name, version=2, strategy="blue_green")

    assert staged["revision"] == 1 and staged["staged_revision"] == 2
    assert container.model_cache.peek(model["v2"].id) is not None  # warm before the switch
    assert predict(client, tenant, name, row).json()["model_version"] == 1
    switched = client.post(f"{DEPLOYMENTS}/{name}/switch", headers=tenant.headers("ml_engineer"))
    assert switched.json()["revision"] == 2 and switched.json()["staged_revision"] is None
    assert predict(client, tenant, name, row).json()["model_version"] == 2
    back = client.post(f"{DEPLOYMENTS}/{name}/rollback", json={},
                       headers=tenant.headers("ml_engineer"))
    assert back.json()["version"] == 1
    assert predict(client, tenant, name, row).json()["model_version"] == 1
    again = client.post(f"{DEPLOYMENTS}/{name}/switch", headers=tenant.headers("ml_engineer"))
    assert again.status_code == 409 and "no staged revision" in again.json()["detail"]


def test_rolling_switches_under_concurrent_requests_fail_nothing(
    client: TestClient, tenant: Actors, model: dict
):
    name = deploy(client, tenant, model_id=model["id"], version=1)["name"]
    rows = sample_rows(200, seed=9)

    def hammer(index: int) -> tuple[int, int]:
        response = predict(client, tenant, name, rows[index])
        return response.status_code, response.json().get("model_version", 0)

    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(hammer, i) for i in range(200)]
        for version in (2, 1, 2):
            change(client, tenant, name, version=version)
        results = [f.result() for f in futures]

    assert [status for status, _ in results].count(200) == 200
    assert {version for _, version in results} <= {1, 2}
    assert predict(client, tenant, name, rows[0]).json()["model_version"] == 2


def test_weighted_split_is_sticky_by_routing_key(client: TestClient, tenant: Actors, model: dict):
    name = deploy(client, tenant, model_id=model["id"], variants=[
        {"role": "primary", "version": 1, "weight": 50},
        {"role": "challenger", "version": 2, "weight": 50, "name": "b"},
    ])["name"]
    row = sample_rows(1, seed=1)[0]

    for key in ("alice", "bob", "carol"):
        answers = {(r.json()["variant"], r.json()["model_version"])
                   for r in (predict(client, tenant, name, row, key) for _ in range(5))}
        assert len(answers) == 1
    seen = {predict(client, tenant, name, row, f"user-{i}").json()["variant"]
            for i in range(40)}
    assert seen == {"primary", "b"}
    assert current(client, tenant, name)["strategy"] == "ab_test"


def test_prediction_carries_an_id_and_variant(client: TestClient, tenant: Actors, model: dict):
    name = deploy(client, tenant, model_id=model["id"], version=1)["name"]

    body = predict(client, tenant, name, sample_rows(1)[0]).json()

    assert len(body["prediction_id"]) == 32 and body["variant"] == "primary"


def start_canary(client: TestClient, tenant: Actors, name: str, version: int, **policy) -> dict:
    return change(client, tenant, name, version=version, strategy="canary", canary=policy)


def drive(client: TestClient, container: Container, tenant: Actors, name: str,
          requests: int) -> list[int]:
    statuses = [predict(client, tenant, name, row, f"k{i}-{row['tenure']}").status_code
                for i, row in enumerate(sample_rows(requests, seed=requests))]
    container.rollouts.evaluate_canaries()
    return statuses


def test_canary_promotes_through_its_steps_when_healthy(
    client: TestClient, container: Container, tenant: Actors, model: dict
):
    name = deploy(client, tenant, model_id=model["id"], version=1)["name"]
    started = start_canary(client, tenant, name, 2, steps=[30, 60, 100], min_requests=5,
                           max_error_rate=0.2, max_p99_ms=60_000)
    assert started["strategy"] == "canary"
    assert {v["role"]: v["weight"] for v in started["variants"]} == {"primary": 70,
                                                                     "canary": 30}

    weights = []
    for _ in range(10):
        drive(client, container, tenant, name, 40)
        state = current(client, tenant, name)
        weights.append({v["role"]: v["weight"] for v in state["variants"]})
        if state["strategy"] != "canary":
            break

    assert {"primary": 40.0, "canary": 60.0} in weights
    final = current(client, tenant, name)
    assert final["version"] == 2 and final["strategy"] == "rolling"
    assert [v["role"] for v in final["variants"]] == ["primary"]
    reasons = [r["reason"] for r in revisions(client, tenant, name)]
    assert any("promoted to 60%" in (r or "") for r in reasons)
    assert all(r["created_by"] is None for r in revisions(client, tenant, name)[:2])


def test_canary_rolls_back_by_itself_when_the_new_version_fails(
    client: TestClient, container: Container, tenant: Actors, model: dict
):
    name = deploy(client, tenant, model_id=model["id"], version=1)["name"]
    start_canary(client, tenant, name, 3, steps=[50, 100], min_requests=20,
                 max_error_rate=0.1, max_p99_ms=60_000)

    statuses = drive(client, container, tenant, name, 30)

    assert 422 in statuses  # the canary's answers failed
    state = current(client, tenant, name)
    assert state["strategy"] == "rolling" and state["version"] == 1
    assert [v["role"] for v in state["variants"]] == ["primary"]
    history = revisions(client, tenant, name)
    assert history[1]["state"] == "rolled_back" and "error rate" in history[0]["reason"]
    after = [predict(client, tenant, name, row).status_code for row in sample_rows(20, seed=5)]
    assert after == [200] * 20


def test_canary_status_advance_and_abort_by_hand(
    client: TestClient, container: Container, tenant: Actors, model: dict
):
    name = deploy(client, tenant, model_id=model["id"], version=1)["name"]
    start_canary(client, tenant, name, 2, steps=[10, 50, 100], min_requests=1000)
    headers = tenant.headers("ml_engineer")

    status = client.get(f"{DEPLOYMENTS}/{name}/canary", headers=tenant.headers("viewer")).json()
    advanced = client.post(f"{DEPLOYMENTS}/{name}/canary/advance", headers=headers).json()
    aborted = client.post(f"{DEPLOYMENTS}/{name}/canary/abort", headers=headers).json()
    again = client.post(f"{DEPLOYMENTS}/{name}/canary/abort", headers=headers)

    assert status["weight"] == 10 and status["decision"]["action"] == "hold"
    assert {v["role"]: v["weight"] for v in advanced["variants"]}["canary"] == 50
    assert aborted["version"] == 1 and [v["role"] for v in aborted["variants"]] == ["primary"]
    assert again.status_code == 409


def test_invalid_variants_are_refused_with_the_field(
    client: TestClient, tenant: Actors, model: dict
):
    bad = [
        [{"role": "primary", "version": 1, "weight": 60}],
        [{"role": "canary", "version": 1, "weight": 100}],
        [{"role": "primary", "version": 1, "weight": 100},
         {"role": "shadow", "version": 2, "weight": 10}],
    ]
    for variants in bad:
        response = client.post(DEPLOYMENTS, json={"model_id": model["id"], "variants": variants},
                               headers=tenant.headers("ml_engineer"))
        assert response.status_code == 422, response.text
    canary_without_version = client.post(
        DEPLOYMENTS, json={"model_id": model["id"], "strategy": "canary"},
        headers=tenant.headers("ml_engineer"))
    assert canary_without_version.status_code == 422


def test_approval_needs_a_second_user(client: TestClient, tenant: Actors, model: dict):
    created = deploy(client, tenant, model_id=model["id"], version=1, environment="production",
                     require_approval=True)
    name = created["name"]
    row = sample_rows(1)[0]
    approve = f"{DEPLOYMENTS}/{name}/revisions/1/approve"

    assert created["status"] == "pending_approval" and created["pending_revision"] == 1
    assert predict(client, tenant, name, row).status_code == 409
    own = client.post(approve, headers=tenant.headers("ml_engineer"))
    assert own.status_code == 403 and "different user" in own.json()["detail"]
    viewer = client.post(approve, headers=tenant.headers("viewer"))
    assert viewer.status_code == 403
    approved = client.post(approve, headers=tenant.headers("tenant_admin"))
    assert approved.status_code == 200 and approved.json()["revision"] == 1
    assert predict(client, tenant, name, row).json()["model_version"] == 1

    pending = change(client, tenant, name, version=2, reason="new boundary")
    assert pending["revision"] == 1 and pending["pending_revision"] == 2
    blocked = client.patch(f"{DEPLOYMENTS}/{name}", json={"version": 1},
                           headers=tenant.headers("ml_engineer"))
    assert blocked.status_code == 409
    assert predict(client, tenant, name, row).json()["model_version"] == 1
    rejected = client.post(f"{DEPLOYMENTS}/{name}/revisions/2/reject",
                           headers=tenant.headers("tenant_admin"))
    assert rejected.json()["pending_revision"] is None
    history = revisions(client, tenant, name)
    assert history[0]["state"] == "rejected" and history[0]["decided_by"] is not None
    unserved = client.post(f"{DEPLOYMENTS}/{name}/rollback", json={"revision": 2},
                           headers=tenant.headers("ml_engineer"))
    assert unserved.status_code == 422
    lift = client.patch(f"{DEPLOYMENTS}/{name}", json={"require_approval": False, "version": 2},
                        headers=tenant.headers("ml_engineer"))
    assert lift.status_code == 403 and "tenant admin" in lift.json()["detail"]
    assert current(client, tenant, name)["pending_revision"] is None  # nothing written
    lifted = change(client, tenant, name, role="tenant_admin", require_approval=False)
    assert lifted["require_approval"] is False
    assert change(client, tenant, name, version=2)["version"] == 2


def test_another_tenants_revisions_are_not_found(
    client: TestClient, tenant: Actors, other_tenant: Actors, model: dict
):
    name = deploy(client, tenant, model_id=model["id"], version=1)["name"]
    change(client, tenant, name, version=2)
    other = other_tenant.headers("tenant_admin")

    assert client.get(f"{DEPLOYMENTS}/{name}/revisions", headers=other).status_code == 404
    assert client.post(f"{DEPLOYMENTS}/{name}/rollback", json={},
                       headers=other).status_code == 404
    assert client.get(f"{DEPLOYMENTS}/{name}/stats", headers=other).status_code == 404


def test_predict_rows_can_pin_the_variant_of_a_version(
    client: TestClient, container: Container, tenant: Actors, model: dict
):
    name = deploy(client, tenant, model_id=model["id"], variants=[
        {"role": "primary", "version": 1, "weight": 90},
        {"role": "challenger", "version": 2, "weight": 10, "name": "b"},
    ])["name"]
    principal = Principal("someone", tenant.tenant_id, Role.VIEWER, "someone@example.com")
    rows = sample_rows(3, seed=6)

    pinned = [container.predictions.predict_rows(principal, name, rows, version=2)
              for _ in range(5)]

    assert {(p.variant, p.model_version) for p in pinned} == {("b", 2)}
    assert pinned[0].predictions == model["v2"].expected(rows)
    with pytest.raises(NotFound):
        container.predictions.predict_rows(principal, name, rows, version=3)
