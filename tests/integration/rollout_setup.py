"""Shared setup for rollout tests: a deliberately failing model version, deploy/predict calls."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression

from maestro_ml.ml.model_io import save_model
from tests.factories import Actors
from tests.model_factories import FEATURES, SIGNATURE_INPUTS, sample_rows

DEPLOYMENTS = "/api/v1/deployments"


def make_failing_version(container: Any, tenant_id: str, model_id: str) -> int:
    """A version that loads fine but raises on every prediction.

    Its estimator was fitted on four columns while its metadata (and signature) declare the
    usual three features, so scikit-learn refuses every matrix it is given.
    """
    rows = sample_rows(100, seed=11)
    x = np.array([[row[n] for n in FEATURES] + [1.0] for row in rows], dtype=np.float64)
    y = np.where(x[:, 0] > 30, "stays", "churns")
    estimator = LogisticRegression(max_iter=200).fit(x, y)
    signature = {"inputs": SIGNATURE_INPUTS, "outputs": [{"name": "y", "type": "string"}]}
    metadata = {
        "task": "classification", "estimator": "LogisticRegression",
        "classes": [str(c) for c in estimator.classes_], "feature_names": FEATURES,
        "categorical_features": [], "signature": signature,
    }
    with tempfile.TemporaryDirectory() as directory:
        save_model(estimator, directory, metadata)
        with container.uow.for_tenant(tenant_id) as uow:
            number = uow.model_versions.next_version(model_id)
            key = f"models/{model_id}/v{number}"
            store = container.artifacts
            store.write_dir(store.tenant_key(tenant_id, key), Path(directory))
            uow.model_versions.create(
                model_id=model_id, version=number, artifact_key=key, format="skops",
                framework="sklearn", signature=signature, metrics={}, run_id=None,
                dataset_id=None,
            )
            uow.commit()
    return number


def deploy(client: TestClient, actors: Actors, role: str = "ml_engineer", **body: Any) -> dict:
    response = client.post(DEPLOYMENTS, json=body, headers=actors.headers(role))
    assert response.status_code == 201, response.text
    return response.json()


def change(client: TestClient, actors: Actors, name: str, role: str = "ml_engineer",
           **body: Any) -> dict:
    response = client.patch(f"{DEPLOYMENTS}/{name}", json=body, headers=actors.headers(role))
    assert response.status_code == 200, response.text
    return response.json()


def predict(client: TestClient, actors: Actors, name: str, row: dict[str, Any],
            key: str | None = None):
    headers = actors.headers("viewer")
    if key is not None:
        headers = {**headers, "X-Routing-Key": key}
    return client.post(f"{DEPLOYMENTS}/{name}/predict", json={"features": row}, headers=headers)


def revisions(client: TestClient, actors: Actors, name: str) -> list[dict]:
    response = client.get(f"{DEPLOYMENTS}/{name}/revisions", headers=actors.headers("viewer"))
    assert response.status_code == 200, response.text
    return response.json()
