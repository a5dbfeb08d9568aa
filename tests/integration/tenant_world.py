"""Two tenants' worth of objects: one of every kind, for isolation and attack tests."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient

from tests.factories import Actors, unique

TERMINAL = {"succeeded", "failed", "cancelled"}


def wait_for_job(client: TestClient, job_id: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}", headers=headers).json()
        if job["status"] in TERMINAL:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def tiny_csv() -> bytes:
    rows = ["x1,x2,label"] + [f"{i % 7},{(i * 3) % 11},{int(i % 7 > 3)}" for i in range(60)]
    return ("\n".join(rows) + "\n").encode()


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
    # Prediction log: a deployment that logs every prediction, and one logged prediction.
    logged = client.post("/api/v1/deployments", headers=h, json={
        "model_id": model_id, "name": unique("logged"), "log_sample_rate": 1.0})
    assert logged.status_code == 201, logged.text
    predicted = client.post(f"/api/v1/deployments/{logged.json()['name']}/predict", headers=h,
                            json={"features": {"x1": 1, "x2": 2}})
    assert predicted.status_code == 200, predicted.text
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
        "request_id": model.headers["x-request-id"],  # the audit event of its creation
        "model_version_id": version["id"],
        "version": "1",
        "alias": "champion",
        "id_or_name": deployment.json()["name"],
        "slo_name": f"deployment-{deployment.json()['name']}-latency",  # SLOs
        "deployment_id": deployment.json()["id"],
        "number": "1",  # deployment revisions: every deployment has revision 1
        "key": "team",
        "path": "notes/readme.txt",
        "metric_key": "accuracy",
        "prediction_id": predicted.json()["prediction_id"],
    })


