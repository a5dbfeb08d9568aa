"""ONNX Runtime serving: used only when it agrees with the native model on the version's
validation rows; the answers over HTTP are the native model's."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline

from maestro_ml.api.app import create_app
from maestro_ml.bootstrap import Container, build_container
from maestro_ml.config import Settings
from maestro_ml.ml.model_io import load_model, save_model
from maestro_ml.ml.training import VALIDATION_SAMPLE_FILE
from maestro_ml.serving.onnx_runtime import OnnxModel, compile_version
from tests.factories import Actors, make_tenant
from tests.model_factories import create_model

COLUMNS = [f"f{i}" for i in range(8)]


def forest() -> tuple[Any, np.ndarray]:
    x, y = make_classification(n_samples=600, n_features=8, n_informative=5, random_state=0)
    x[::11, 3] = np.nan  # the trainer's imputer is compiled too
    model = Pipeline([("impute", SimpleImputer(strategy="median")),
                      ("model", RandomForestClassifier(n_estimators=30, max_depth=6,
                                                       random_state=0))]).fit(x, y)
    return model, x


def write_version(directory: Path, model: Any, validation: np.ndarray | None, task: str) -> None:
    metadata = {
        "task": task, "estimator": type(model[-1]).__name__,
        "classes": [0, 1] if task == "classification" else None,
        "feature_names": COLUMNS, "categorical_features": [],
        "signature": {"inputs": [{"name": c, "type": "double"} for c in COLUMNS]},
    }
    save_model(model, directory, metadata)
    if validation is not None:
        rows = [[None if np.isnan(v) else float(v) for v in row] for row in validation]
        (directory / VALIDATION_SAMPLE_FILE).write_text(json.dumps(rows))


def test_an_agreeing_forest_is_served_by_onnx_runtime(tmp_path: Path) -> None:
    model, x = forest()
    write_version(tmp_path, model, x[:200], "classification")
    native = load_model(tmp_path)

    served, compilation = compile_version(native, x[:200].tolist())

    assert isinstance(served, OnnxModel) and compilation.runtime == "onnxruntime"
    assert "0 label mismatches" in compilation.reason
    fresh = x[400:]
    assert served.predict_array(fresh).predictions == native.predict_array(fresh).predictions
    np.testing.assert_allclose(served.predict_array(fresh).probabilities,
                               native.predict_array(fresh).probabilities, atol=1e-5)


def test_a_disagreeing_model_stays_native_and_says_why(tmp_path: Path) -> None:
    # Inputs near 1e8 lose their last digits in float32, which ONNX computes in.
    rng = np.random.default_rng(0)
    x = 1e8 + rng.uniform(0, 100, size=(300, len(COLUMNS)))
    y = x[:, 0] - 1e8
    model = Pipeline([("impute", SimpleImputer()), ("model", LinearRegression())]).fit(x, y)
    write_version(tmp_path, model, x[:100], "regression")
    native = load_model(tmp_path)

    served, compilation = compile_version(native, x[:100].tolist())

    assert served is native and compilation.runtime == "native"
    assert "disagrees" in compilation.reason


def test_without_validation_rows_nothing_is_compiled(tmp_path: Path) -> None:
    model, _ = forest()
    write_version(tmp_path, model, None, "classification")

    served, compilation = compile_version(load_model(tmp_path), None)

    assert not isinstance(served, OnnxModel)
    assert "no validation rows" in compilation.reason


@pytest.fixture(scope="module")
def onnx_app(settings: Settings) -> Iterator[TestClient]:
    container = build_container(settings.model_copy(update={
        "serving_compile_onnx": True, "run_worker": False, "redis_url": None,
    }))
    with TestClient(create_app(container)) as client:
        yield client
    container.close()


def register(container: Container, tenant: Actors, model_id: str, build: Path) -> str:
    with container.uow.for_tenant(tenant.tenant_id) as uow:
        key = f"models/{model_id}/v1"
        container.artifacts.write_dir(container.artifacts.tenant_key(tenant.tenant_id, key),
                                      build)
        row = uow.model_versions.create(
            model_id=model_id, version=1, artifact_key=key, format="skops",
            framework="sklearn", signature={"inputs": [{"name": c, "type": "double"}
                                                       for c in COLUMNS]},
            metrics={}, run_id=None, dataset_id=None,
        )
        uow.commit()
        return str(row.id)


def test_predictions_over_http_come_from_onnx_and_match_the_native_model(
    onnx_app: TestClient, root_token: str
) -> None:
    container: Container = onnx_app.app.state.container
    tenant = make_tenant(onnx_app, root_token)
    model_row = create_model(onnx_app, tenant)
    model, x = forest()
    with tempfile.TemporaryDirectory() as build:
        write_version(Path(build), model, x[:200], "classification")
        version_id = register(container, tenant, model_row["id"], Path(build))
    name = onnx_app.post("/api/v1/deployments", json={"model_id": model_row["id"]},
                         headers=tenant.headers("ml_engineer")).json()["name"]
    rows = [dict(zip(COLUMNS, [None if np.isnan(v) else v for v in row], strict=True))
            for row in x[300:350].tolist()]

    response = onnx_app.post(f"/api/v1/deployments/{name}/predict", json={"instances": rows},
                             headers=tenant.headers("viewer"))

    assert response.status_code == 200, response.text
    assert container.predictions.load_version(version_id, "").runtime == "onnxruntime"
    assert response.json()["predictions"] == model.predict(x[300:350]).tolist()
    np.testing.assert_allclose(response.json()["probabilities"],
                               model.predict_proba(x[300:350]), atol=1e-5)
    metadata = onnx_app.get(f"/v2/models/{name}", headers=tenant.headers("viewer")).json()
    assert metadata["platform"] == "onnxruntime_onnx"
