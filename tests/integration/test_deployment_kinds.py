"""Ensemble and chain deployments: created through the deployments API, served by predict."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from maestro_ml.bootstrap import Container
from tests.factories import Actors, make_tenant
from tests.integration.rollout_setup import DEPLOYMENTS, change, deploy, revisions
from tests.model_factories import FEATURES, create_model, make_model_version, sample_rows


@pytest.fixture(scope="module")
def tenant(client: TestClient, root_token: str) -> Actors:
    return make_tenant(client, root_token)


def test_soft_voting_ensemble_averages_its_members(
    client: TestClient, container: Container, tenant: Actors
):
    model = create_model(client, tenant)
    v1 = make_model_version(container, tenant.tenant_id, model["id"], seed=0)
    v2 = make_model_version(container, tenant.tenant_id, model["id"], seed=3)
    composite = {"method": "soft_voting", "members": [
        {"model": model["id"], "version": 1, "name": "a"},
        {"model": model["id"], "version": 2, "name": "b"}]}
    created = deploy(client, tenant, model_id=model["id"], kind="ensemble", composite=composite)
    rows = sample_rows(20, seed=8)

    response = client.post(f"{DEPLOYMENTS}/{created['name']}/predict",
                           json={"instances": rows}, headers=tenant.headers("viewer"))

    assert created["kind"] == "ensemble" and created["version"] == 1
    assert response.status_code == 200, response.text
    x = np.array([[row[n] for n in FEATURES] for row in rows])
    expected = (v1.estimator.predict_proba(x) + v2.estimator.predict_proba(x)) / 2
    np.testing.assert_allclose(response.json()["probabilities"], expected, rtol=1e-9)
    assert revisions(client, tenant, created["name"])[0]["composite"]["method"] == "soft_voting"


def test_composite_kinds_refuse_extra_variants_and_bad_configs(
    client: TestClient, container: Container, tenant: Actors
):
    model = create_model(client, tenant)
    make_model_version(container, tenant.tenant_id, model["id"], seed=0)
    make_model_version(container, tenant.tenant_id, model["id"], seed=1)
    composite = {"method": "hard_voting", "members": [
        {"model": model["id"], "version": 1, "name": "a"},
        {"model": model["id"], "version": 2, "name": "b"}]}
    name = deploy(client, tenant, model_id=model["id"], kind="ensemble",
                  composite=composite)["name"]

    canary = client.patch(f"{DEPLOYMENTS}/{name}", json={"version": 2, "strategy": "canary"},
                          headers=tenant.headers("ml_engineer"))
    broken = client.post(DEPLOYMENTS, json={"model_id": model["id"], "kind": "ensemble",
                                            "composite": {"method": "x", "members": []}},
                         headers=tenant.headers("ml_engineer"))
    stray = client.post(DEPLOYMENTS, json={"model_id": model["id"], "composite": composite},
                        headers=tenant.headers("ml_engineer"))

    assert canary.status_code == 422 and "composite" in canary.json()["detail"]
    assert broken.status_code == 422 and stray.status_code == 422
    single = change(client, tenant, name, kind="single", version=2)
    assert single["kind"] == "single" and single["version"] == 2
