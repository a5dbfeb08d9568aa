"""Shadow variants over HTTP: the answer never changes, agreement and failures are recorded."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from maestro_ml.bootstrap import Container
from tests.factories import Actors, make_tenant
from tests.integration.rollout_setup import DEPLOYMENTS, deploy, make_failing_version, predict
from tests.model_factories import create_model, make_model_version, sample_rows


@pytest.fixture(scope="module")
def tenant(client: TestClient, root_token: str) -> Actors:
    return make_tenant(client, root_token)


def test_shadows_never_change_the_answer_and_record_agreement(
    client: TestClient, container: Container, tenant: Actors
):
    model = create_model(client, tenant)
    v1 = make_model_version(container, tenant.tenant_id, model["id"], seed=0)
    v2 = make_model_version(container, tenant.tenant_id, model["id"], seed=3)
    make_failing_version(container, tenant.tenant_id, model["id"])
    plain = deploy(client, tenant, model_id=model["id"], version=1)["name"]
    shadowed = deploy(client, tenant, model_id=model["id"], variants=[
        {"role": "primary", "version": 1, "weight": 100},
        {"role": "shadow", "version": 2, "name": "next"},
        {"role": "shadow", "version": 3, "name": "broken"},
    ])["name"]
    rows = sample_rows(30, seed=21)

    def answers(name: str) -> list[tuple[int, dict]]:
        result = []
        for row in rows:
            response = predict(client, tenant, name, row)
            body = response.json()
            body.pop("prediction_id"), body.pop("deployment")
            result.append((response.status_code, body))
        return result

    assert answers(shadowed) == answers(plain)
    assert container.predictions.shadow.wait_idle(30)
    stats = client.get(f"{DEPLOYMENTS}/{shadowed}/stats", headers=tenant.headers("viewer"))
    assert stats.status_code == 200, stats.text
    shadows = {s["variant"]: s for s in stats.json()["shadows"]}
    expected = sum(a == b for a, b in zip(v1.expected(rows), v2.expected(rows), strict=True))
    assert shadows["next"]["requests"] == 30 and shadows["next"]["errors"] == 0
    assert shadows["next"]["agreement_rate"] == pytest.approx(expected / 30)
    assert shadows["next"]["mean_latency_delta_ms"] is not None
    assert shadows["broken"]["requests"] == 30 and shadows["broken"]["errors"] == 30
    primary = stats.json()["variants"][0]
    assert primary["variant"] == "primary" and primary["requests"] == 30
    assert primary["errors"] == 0 and primary["p99_ms"] is not None


def test_shadow_sample_rate_zero_sends_no_copies(
    client: TestClient, container: Container, tenant: Actors
):
    model = create_model(client, tenant)
    make_model_version(container, tenant.tenant_id, model["id"], seed=0)
    make_model_version(container, tenant.tenant_id, model["id"], seed=1)
    name = deploy(client, tenant, model_id=model["id"], shadow_sample_rate=0.0, variants=[
        {"role": "primary", "version": 1, "weight": 100},
        {"role": "shadow", "version": 2},
    ])["name"]

    for row in sample_rows(5):
        assert predict(client, tenant, name, row).status_code == 200
    container.predictions.shadow.wait_idle(30)

    stats = client.get(f"{DEPLOYMENTS}/{name}/stats", headers=tenant.headers("viewer")).json()
    assert stats["shadows"] == []
