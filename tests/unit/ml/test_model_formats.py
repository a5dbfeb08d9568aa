"""Detecting what an uploaded model is, from bytes and text only — never by unpickling."""

from __future__ import annotations

import io
import json
from pathlib import Path

import joblib
import numpy as np
import pytest
import skops.io
from sklearn.linear_model import LogisticRegression

from maestro_ml.domain.errors import InvalidInput
from maestro_ml.ml.model_formats import (
    LIGHTGBM_TEXT,
    MLFLOW_PYFUNC,
    PICKLE,
    SKOPS,
    XGBOOST_JSON,
    detect_model,
    pickle_policy_error,
)
from tests.pickle_payloads import marker_path, marker_pickle

MLMODEL = """\
artifact_path: model
flavors:
  python_function:
    env: {{conda: conda.yaml}}
    loader_module: {loader}
    model_path: {model_path}
    python_version: 3.11.9
  sklearn:
    pickled_model: {model_path}
    serialization_format: cloudpickle
    sklearn_version: 1.5.0
signature:
  inputs: '[{{"name": "a", "type": "double"}}, {{"name": "b", "type": "double"}}]'
  outputs: '[{{"type": "long"}}]'
"""


def fitted() -> LogisticRegression:
    x = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]])
    return LogisticRegression().fit(x, [0, 1, 0, 1])


def upload(tmp_path: Path, name: str, data: bytes) -> Path:
    folder = tmp_path.with_name(tmp_path.name + "-upload")
    folder.mkdir()
    (folder / name).write_bytes(data)
    return folder


def test_a_pickle_that_runs_code_is_detected_without_running_it(tmp_path: Path):
    marker = marker_path()
    folder = upload(tmp_path, "model.bin", marker_pickle(marker))

    detected = detect_model(folder)

    assert detected.format == PICKLE and detected.needs_pickle
    assert detected.model_file == "model.bin"
    assert not marker.exists()


@pytest.mark.parametrize("compress", [0, 3, ("gzip", 3), ("bz2", 3), ("xz", 3)])
def test_joblib_files_plain_or_compressed_are_pickles(tmp_path: Path, compress):
    buffer = io.BytesIO()
    joblib.dump(fitted(), buffer, compress=compress)

    detected = detect_model(upload(tmp_path, "model", buffer.getvalue()))

    assert detected.format == PICKLE


def test_skops_xgboost_and_lightgbm_files_are_recognised_by_content(tmp_path: Path):
    import lightgbm
    import xgboost

    x, y = np.random.default_rng(0).normal(size=(40, 3)), np.arange(40) % 2
    skops.io.dump(fitted(), tmp_path / "a.skops")
    xgboost.XGBClassifier(n_estimators=2).fit(x, y).save_model(str(tmp_path / "b.json"))
    booster = lightgbm.LGBMClassifier(n_estimators=2, verbose=-1).fit(x, y).booster_
    booster.save_model(str(tmp_path / "c.txt"))

    found: dict[str, str] = {}
    for name in ("a.skops", "b.json", "c.txt"):
        data = (tmp_path / name).read_bytes()
        found[name] = detect_model(upload(tmp_path / name, "model", data)).format
    assert found == {"a.skops": SKOPS, "b.json": XGBOOST_JSON, "c.txt": LIGHTGBM_TEXT}


def test_an_mlflow_sklearn_directory_is_read_from_its_mlmodel_yaml(tmp_path: Path):
    root = tmp_path / "upload" / "model"
    root.mkdir(parents=True)
    (root / "MLmodel").write_text(MLMODEL.format(loader="mlflow.sklearn", model_path="model.pkl"))
    marker = marker_path()
    (root / "model.pkl").write_bytes(marker_pickle(marker))

    detected = detect_model(tmp_path / "upload")

    assert detected.format == MLFLOW_PYFUNC and detected.framework == "mlflow"
    assert detected.root == root and detected.model_file == "model.pkl"
    assert detected.serialization == "cloudpickle"
    assert detected.signature == {
        "inputs": [{"name": "a", "type": "double"}, {"name": "b", "type": "double"}],
        "outputs": [{"type": "long"}],
    }
    assert not marker.exists()


@pytest.mark.parametrize(
    ("loader", "model_path", "message"),
    [
        ("mlflow.pyfunc.model", "python_model.pkl", "not supported"),
        ("mlflow.sklearn", "../model.pkl", "unsafe model path"),
        ("mlflow.sklearn", "/etc/passwd", "unsafe model path"),
        ("mlflow.sklearn", "missing.pkl", "not in the upload"),
    ],
)
def test_mlflow_models_with_other_loaders_or_bad_paths_are_refused(
    tmp_path: Path, loader: str, model_path: str, message: str
):
    root = tmp_path / "upload"
    root.mkdir()
    (root / "MLmodel").write_text(MLMODEL.format(loader=loader, model_path=model_path))
    (root / "python_model.pkl").write_bytes(b"\x80\x05N.")

    with pytest.raises(InvalidInput, match=message):
        detect_model(root)


def test_mlmodel_yaml_is_read_safely(tmp_path: Path):
    root = tmp_path / "upload"
    root.mkdir()
    (root / "MLmodel").write_text("flavors: !!python/object/apply:os.system ['true']\n")

    with pytest.raises(InvalidInput, match="not valid YAML"):
        detect_model(root)


def test_a_maestro_directory_cannot_declare_itself_a_pickle(tmp_path: Path):
    root = tmp_path / "upload"
    root.mkdir()
    (root / "maestro-model.json").write_text(json.dumps({"format": "pickle"}))
    (root / "model.pkl").write_bytes(b"\x80\x05N.")

    with pytest.raises(InvalidInput, match="declares format 'pickle'"):
        detect_model(root)


def test_unknown_files_and_ambiguous_archives_are_refused(tmp_path: Path):
    with pytest.raises(InvalidInput, match="not a model format"):
        detect_model(upload(tmp_path, "notes.txt", b"hello"))
    two = tmp_path / "two"
    two.mkdir()
    (two / "a.txt").write_text("a")
    (two / "b.txt").write_text("b")
    with pytest.raises(InvalidInput, match="exactly one model file"):
        detect_model(two)


def test_the_policy_error_says_how_a_tenant_admin_allows_pickles():
    error = pickle_policy_error("t123")

    assert "tenant policy forbids pickle-based models" in error.detail
    assert 'PATCH /api/v1/tenants/t123/settings {"allow_pickle_models": true}' in error.detail
