"""Test-only factories for the registry: models over HTTP, versions trained here in memory.

``make_model_version`` trains a tiny scikit-learn pipeline, writes it with
``ml.model_io.save_model`` into the artifact store and inserts the version row through the
container's tenant unit of work — exactly what the training job leaves behind, without
depending on the worker. ``make_lineage`` adds the dataset, experiment and run a trained
version points back to.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline

from maestro_ml.ml.model_io import save_model
from maestro_ml.storage.tables import LatestMetricRow, ParamRow
from tests.factories import Actors, unique

FEATURES = ["tenure", "usage", "score"]
SIGNATURE_INPUTS = [
    {"name": "tenure", "type": "long"},
    {"name": "usage", "type": "double"},
    {"name": "score", "type": "double"},
]


@dataclass
class TrainedVersion:
    id: str
    version: int
    model_id: str
    estimator: Any
    rows: list[dict[str, Any]] = field(repr=False)

    def expected(self, rows: list[dict[str, Any]]) -> list[Any]:
        """What the in-memory model predicts for ``rows`` (as JSON would carry it)."""
        matrix = np.array([[row[name] for name in FEATURES] for row in rows], dtype=np.float64)
        return np.asarray(self.estimator.predict(matrix)).tolist()


def create_model(client: Any, actors: Actors, role: str = "data_scientist", **fields: Any) -> dict:
    body = {"name": unique("model"), "task": "classification", "framework": "sklearn", **fields}
    response = client.post("/api/v1/models", json=body, headers=actors.headers(role))
    assert response.status_code == 201, response.text
    return response.json()


def sample_rows(count: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [
        {
            "tenure": int(rng.integers(0, 72)),
            "usage": float(rng.normal(10, 3)),
            "score": float(rng.uniform(0, 1)),
        }
        for _ in range(count)
    ]


def _fit(task: str, seed: int) -> tuple[Any, list[dict[str, Any]], list[Any] | None]:
    rows = sample_rows(200, seed)
    x = np.array([[row[name] for name in FEATURES] for row in rows], dtype=np.float64)
    if task == "regression":
        y = x @ np.array([0.5, 2.0, -3.0]) + seed
        model = Pipeline([("impute", SimpleImputer()), ("model", LinearRegression())])
        return model.fit(x, y), rows, None
    # Who churns depends on tenure and usage; the seed shifts the boundary between versions.
    y = np.where(x[:, 0] * 0.1 + x[:, 1] * 0.3 - x[:, 2] > 6 + seed * 0.5, "stays", "churns")
    model = Pipeline([("impute", SimpleImputer()), ("model", LogisticRegression(max_iter=500))])
    model.fit(x, y)
    return model, rows, [str(label) for label in model.classes_]


def make_model_version(
    container: Any, tenant_id: str, model_id: str, *, task: str = "classification",
    seed: int = 0, run_id: str | None = None, dataset_id: str | None = None,
    signature: dict[str, Any] | None = None,
) -> TrainedVersion:
    """Train, save and register the next version of ``model_id`` in ``tenant_id``."""
    estimator, rows, classes = _fit(task, seed)
    output_type = "string" if task == "classification" else "double"
    if signature is None:
        signature = {"inputs": SIGNATURE_INPUTS, "outputs": [{"name": "y", "type": output_type}]}
    metadata = {
        "task": task, "estimator": type(estimator[-1]).__name__, "classes": classes,
        "feature_names": FEATURES, "categorical_features": [], "signature": signature,
    }
    with tempfile.TemporaryDirectory() as directory:
        save_model(estimator, directory, metadata)
        with container.uow.for_tenant(tenant_id) as uow:
            model = uow.models.get(model_id)
            number = uow.model_versions.next_version(model.id)
            key = f"models/{model.id}/v{number}"
            store = container.artifacts
            store.write_dir(store.tenant_key(tenant_id, key), Path(directory))
            row = uow.model_versions.create(
                model_id=model.id, version=number, artifact_key=key, format="skops",
                framework="sklearn", signature=signature, metrics={"accuracy": 0.9},
                run_id=run_id, dataset_id=dataset_id,
            )
            uow.commit()
    return TrainedVersion(row.id, number, model_id, estimator, rows)


@dataclass
class LineageRows:
    dataset_id: str
    experiment_id: str
    run_id: str


def make_lineage(container: Any, tenant_id: str) -> LineageRows:
    """A dataset, an experiment and a finished run with params and metrics."""
    with container.uow.for_tenant(tenant_id) as uow:
        dataset = uow.datasets.create(
            name=unique("customers"), version=1, format="csv", artifact_key="datasets/x.csv",
            sha256="ab" * 32, size_bytes=1234, row_count=200,
            columns=[{"name": name, "type": "double"} for name in FEATURES],
        )
        experiment = uow.experiments.create(name=unique("experiment"))
        uow.flush()
        run = uow.runs.create(
            experiment_id=experiment.id, name="train", status="FINISHED",
            start_time=int(time.time() * 1000), dataset_id=dataset.id,
        )
        uow.flush()
        uow.session.add_all([
            ParamRow(run_id=run.id, key="estimator", value="LogisticRegression"),
            LatestMetricRow(run_id=run.id, key="accuracy", value=0.9, step=0, timestamp=0),
        ])
        uow.commit()
        return LineageRows(dataset.id, experiment.id, run.id)
