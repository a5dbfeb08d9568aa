"""Fixtures of the attack battery and its session summary.

Two tenants, each holding one object of every kind (``world``), so an attack can aim the
victim's real ids at routes the attacker may call; ``Tally`` counts the requests each
category tried and the violations it found (``tally.py``; printed at the end of the session
by ``tests/integration/conftest.py``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import Actors, make_tenant, unique
from tests.integration.security.tally import TALLY, Tally
from tests.integration.test_tenant_isolation import tiny_csv, wait_for_job


@pytest.fixture(scope="session")
def tally() -> Tally:
    return TALLY


@dataclass
class Holdings:
    """One tenant's actors and the ids of the objects it owns."""

    actors: Actors
    ids: dict[str, Any] = field(default_factory=dict)

    def headers(self, role: str = "tenant_admin") -> dict[str, str]:
        return self.actors.headers(role)


def populate(client: TestClient, actors: Actors) -> Holdings:
    """A dataset, a trained model version with an alias, a deployment, an experiment with
    its run (tag, artifact), and the tenant's users and keys."""
    h = actors.headers("tenant_admin")
    dataset = client.post("/api/v1/datasets", headers=h, data={"name": unique("ds")},
                          files={"file": ("data.csv", io.BytesIO(tiny_csv()), "text/csv")})
    assert dataset.status_code == 201, dataset.text
    model = client.post("/api/v1/models", headers=h, json={
        "name": unique("model"), "task": "classification", "framework": "sklearn"})
    assert model.status_code == 201, model.text
    model_id = model.json()["id"]
    experiment = client.post("/api/v1/experiments", headers=h, json={
        "model_id": model_id, "dataset_id": dataset.json()["id"], "target": "label",
        "parameters": {"estimator": "DecisionTreeClassifier", "max_depth": 3}})
    assert experiment.status_code == 201, experiment.text
    job = wait_for_job(client, experiment.json()["job_id"], h)
    assert job["status"] == "succeeded", job
    alias = client.put(f"/api/v1/models/{model_id}/aliases/champion", headers=h,
                       json={"version": 1})
    assert alias.status_code in (200, 201, 204), alias.text
    deployment = client.post("/api/v1/deployments", headers=h, json={"model_id": model_id})
    assert deployment.status_code == 201, deployment.text
    run_id = experiment.json()["run_id"]
    tag = client.post(f"/api/v1/runs/{run_id}/tags", headers=h, json={"key": "team", "value": "b"})
    assert tag.status_code in (200, 201, 204), tag.text
    artifact = client.put(f"/api/v1/runs/{run_id}/artifacts/notes/readme.txt", headers=h,
                          content=b"secret of " + actors.tenant_id.encode())
    assert artifact.status_code == 201, artifact.text
    users = client.get("/api/v1/users", headers=h).json()["items"]
    keys = client.get("/api/v1/api-keys", headers=h).json()["items"]
    version = client.get(f"/api/v1/models/{model_id}/versions/1", headers=h).json()
    return Holdings(actors, {
        "tenant_id": actors.tenant_id,
        "user_id": users[0]["id"],
        "key_id": keys[0]["id"],
        "experiment_id": experiment.json()["id"],
        "run_id": run_id,
        "dataset_id": dataset.json()["id"],
        "job_id": job["id"],
        "model_id": model_id,
        "model_version_id": version["id"],
        "version": "1",
        "alias": "champion",
        "id_or_name": deployment.json()["name"],
        "deployment_id": deployment.json()["id"],
        "key": "team",
        "path": "notes/readme.txt",
        "metric_key": "accuracy",
    })


@dataclass
class World:
    attacker: Holdings
    victim: Holdings


@pytest.fixture(scope="session")
def world(client: TestClient, root_token: str) -> World:
    attacker = populate(client, make_tenant(client, root_token))
    victim = populate(client, make_tenant(client, root_token))
    return World(attacker=attacker, victim=victim)
