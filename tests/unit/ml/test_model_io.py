"""Saving and loading model directories, the skops allow-list, and predicting from rows."""

from __future__ import annotations

import json

import numpy as np
import pytest
import skops.io
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from maestro_ml.domain.errors import InvalidInput
from maestro_ml.ml.model_io import METADATA_FILE, load_model, save_model


class Backdoor:
    """Stands in for an attacker's class: not from any library Maestro trusts."""

    def __init__(self) -> None:
        self.command = "rm -rf /"

    def predict(self, x):
        return x


def _metadata(**overrides):
    return {"task": "regression", "feature_names": ["a", "b"], **overrides}


@pytest.fixture
def linear_model():
    x = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0], [3.0, 1.0]])
    return LinearRegression().fit(x, x @ np.array([2.0, -1.0]) + 0.5)


def test_save_writes_the_model_and_metadata(tmp_path, linear_model):
    files = save_model(linear_model, tmp_path, _metadata(estimator="LinearRegression"))

    assert files == ["model.skops", METADATA_FILE]
    metadata = json.loads((tmp_path / METADATA_FILE).read_text())
    assert metadata["format"] == "skops"
    assert metadata["framework"] == "sklearn"
    assert metadata["categorical"] is False
    assert {"python", "numpy", "scikit-learn", "skops"} <= set(metadata["library_versions"])


def test_loaded_model_predicts_rows_and_arrays(tmp_path, linear_model):
    save_model(linear_model, tmp_path, _metadata())

    loaded = load_model(tmp_path)

    assert loaded.predict([{"a": 1.0, "b": 1.0, "ignored": "x"}]).predictions == pytest.approx(
        [1.5]
    )
    assert loaded.predict_array(np.array([[1.0, 1.0]])).predictions == pytest.approx([1.5])
    assert loaded.predict([]).predictions == []
    assert loaded.approx_bytes > 0
    assert (loaded.task, loaded.classes, loaded.feature_names) == ("regression", None, ["a", "b"])


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"a": 1.0}], "missing feature 'b'"),
        ([{"a": 1.0, "b": "lots"}], "feature 'b' must be a number"),
        ([{"a": 1.0, "b": [1, 2]}], "feature 'b' must be a number"),
        ([[1.0, 2.0]], "each row must be an object"),
        ({"a": 1.0, "b": 2.0}, "rows must be a list"),
    ],
)
def test_bad_rows_are_invalid_input(tmp_path, linear_model, rows, message):
    save_model(linear_model, tmp_path, _metadata())
    loaded = load_model(tmp_path)

    with pytest.raises(InvalidInput, match=message):
        loaded.predict(rows)


def test_array_with_the_wrong_width_is_invalid_input(tmp_path, linear_model):
    save_model(linear_model, tmp_path, _metadata())

    with pytest.raises(InvalidInput, match="2 columns"):
        load_model(tmp_path).predict_array(np.ones((1, 3)))


def test_skops_file_with_a_foreign_class_is_refused(tmp_path):
    skops.io.dump(Backdoor(), tmp_path / "model.skops")
    (tmp_path / METADATA_FILE).write_text(json.dumps(_metadata(format="skops")))

    with pytest.raises(InvalidInput, match=r"allow-list.*test_model_io\.Backdoor"):
        load_model(tmp_path)


def test_skops_file_with_a_library_function_is_refused(tmp_path):
    # numpy is an allowed library, but a function stored in a model is called at predict time.
    pipeline = Pipeline([("save", FunctionTransformer(np.save)), ("model", LinearRegression())])
    save_model(pipeline, tmp_path, _metadata())

    with pytest.raises(InvalidInput, match="numpy.save"):
        load_model(tmp_path)


def test_directory_without_metadata_is_refused(tmp_path):
    with pytest.raises(InvalidInput, match=METADATA_FILE):
        load_model(tmp_path)


def test_metadata_cannot_name_an_unknown_format(tmp_path):
    (tmp_path / METADATA_FILE).write_text(json.dumps(_metadata(format="pickle")))

    with pytest.raises(InvalidInput, match="unknown model format 'pickle'"):
        load_model(tmp_path)


def test_corrupt_model_file_is_invalid_input(tmp_path):
    (tmp_path / "model.skops").write_bytes(b"not a zip file")
    (tmp_path / METADATA_FILE).write_text(json.dumps(_metadata(format="skops")))

    with pytest.raises(InvalidInput, match="not a valid skops file"):
        load_model(tmp_path)
