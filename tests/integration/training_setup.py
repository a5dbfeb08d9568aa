"""Building blocks of the dataset, job and training tests: data files, uploads, models,
starting a training over HTTP and waiting for its job to end."""

from __future__ import annotations

import io
import time
from functools import cache
from typing import Any

import pandas as pd
from fastapi.testclient import TestClient
from sklearn.datasets import load_breast_cancer

from maestro_ml.auth.permissions import Role
from maestro_ml.auth.principal import Principal
from tests.factories import Actors, unique

TERMINAL = {"succeeded", "failed", "cancelled"}
# Each training starts a Python process that imports pandas and scikit-learn: seconds each,
# more on a loaded machine, and jobs queue behind one another on the single worker slot.
JOB_DEADLINE_SECONDS = 240


@cache
def breast_cancer_frame() -> pd.DataFrame:
    """569 rows, 30 numeric features and a 0/1 ``target`` column."""
    return load_breast_cancer(as_frame=True).frame


def breast_cancer_csv() -> bytes:
    return breast_cancer_frame().to_csv(index=False).encode()


def breast_cancer_parquet() -> bytes:
    buffer = io.BytesIO()
    breast_cancer_frame().to_parquet(buffer, index=False)
    return buffer.getvalue()


def upload(
    client: TestClient, actors: Actors, content: bytes, filename: str = "cancer.csv",
    name: str | None = None, role: str = "data_scientist", **form: str,
) -> Any:
    return client.post(
        "/api/v1/datasets", headers=actors.headers(role),
        data={"name": name or unique("dataset"), **form},
        files={"file": (filename, content, "application/octet-stream")},
    )


def create_model(
    client: TestClient, actors: Actors, task: str = "classification", framework: str = "sklearn"
) -> dict[str, Any]:
    response = client.post("/api/v1/models", headers=actors.headers("data_scientist"), json={
        "name": unique("model"), "task": task, "framework": framework})
    assert response.status_code == 201, response.text
    return response.json()


QUICK_FOREST = {"estimator": "RandomForestClassifier", "n_estimators": 10}


def start_training(
    client: TestClient, actors: Actors, model_id: str, dataset_id: str,
    parameters: dict[str, Any] | None = None, target: str = "target",
) -> dict[str, Any]:
    """POST /experiments with a target: experiment + run + job; returns the experiment."""
    body = {"model_id": model_id, "dataset_id": dataset_id, "target": target,
            "parameters": parameters or QUICK_FOREST}
    response = client.post(
        "/api/v1/experiments", headers=actors.headers("data_scientist"), json=body
    )
    assert response.status_code == 201, response.text
    return response.json()


def wait_for_job(
    client: TestClient, actors: Actors, job_id: str, statuses: set[str] = TERMINAL,
    deadline: float = JOB_DEADLINE_SECONDS,
) -> dict[str, Any]:
    """Poll the job until its status is one of ``statuses``; fail the test at the deadline."""
    give_up = time.monotonic() + deadline
    while True:
        response = client.get(f"/api/v1/jobs/{job_id}", headers=actors.headers("viewer"))
        assert response.status_code == 200, response.text
        job = response.json()
        if job["status"] in statuses:
            return job
        assert time.monotonic() < give_up, f"job still {job['status']} after {deadline} s: {job}"
        time.sleep(0.1)


def job_logs(client: TestClient, actors: Actors, job_id: str) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        response = client.get(f"/api/v1/jobs/{job_id}/logs", params=params,
                              headers=actors.headers("viewer"))
        assert response.status_code == 200, response.text
        lines += response.json()["items"]
        cursor = response.json()["next_cursor"]
        if not cursor:
            return lines


def principal_of(client: TestClient, actors: Actors, role: str = "data_scientist") -> Principal:
    """The principal behind one of the tenant's API keys, for calling a service directly."""
    me = client.get("/api/v1/auth/me", headers=actors.headers(role)).json()
    return Principal(me["user_id"], me["tenant_id"], Role(me["role"]), me["email"])
