"""Saving and loading trained models in safe formats (never pickle), and predicting with them.

A model directory holds one model file and ``maestro-model.json``::

    format          file          written by
    skops           model.skops   skops.io.dump (scikit-learn pipelines)
    xgboost-json    model.json    XGBModel.save_model
    lightgbm-text   model.txt     Booster.save_model

skops files are opened only when every type they contain passes ``skops_trust``. The file
name comes from the format, never from the metadata, so metadata cannot point elsewhere.
xgboost and lightgbm are imported only when a model of theirs is saved or loaded.
"""

from __future__ import annotations

import json
import platform
import zipfile
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import skops.io

from maestro_ml.domain.errors import InvalidInput
from maestro_ml.ml.estimators import CLASSIFICATION, Framework
from maestro_ml.ml.features import rows_to_frame, rows_to_matrix
from maestro_ml.ml.forests import forest_function
from maestro_ml.ml.json_values import to_json_value
from maestro_ml.ml.skops_trust import refused_types

METADATA_FILE = "maestro-model.json"
METADATA_VERSION = 1
SKOPS = "skops"
XGBOOST_JSON = "xgboost-json"
LIGHTGBM_TEXT = "lightgbm-text"
MODEL_FILES = {SKOPS: "model.skops", XGBOOST_JSON: "model.json", LIGHTGBM_TEXT: "model.txt"}
_FORMAT_OF_FRAMEWORK = {"sklearn": SKOPS, "xgboost": XGBOOST_JSON, "lightgbm": LIGHTGBM_TEXT}
_DISTRIBUTIONS = {
    "sklearn": ("numpy", "scikit-learn", "skops"),
    "xgboost": ("numpy", "scikit-learn", "xgboost"),
    "lightgbm": ("numpy", "scikit-learn", "lightgbm"),
}


@dataclass
class PredictionOutput:
    """Predictions (original class labels for classifiers) and, for classifiers, probabilities."""

    predictions: list[Any]
    probabilities: list[list[float]] | None = None
    classes: list[Any] | None = None


def model_format(framework: str) -> str:
    """The file format models of ``framework`` are saved in."""
    return _FORMAT_OF_FRAMEWORK[framework]


def framework_of(estimator: Any) -> Framework:
    """``sklearn``, ``xgboost`` or ``lightgbm``, from the module that defines the estimator."""
    root = type(estimator).__module__.split(".")[0]
    if root in ("sklearn", "xgboost", "lightgbm"):
        return root  # type: ignore[return-value]
    raise TypeError(f"cannot save a {type(estimator).__name__}: not a supported model type")


def save_model(estimator: Any, output_dir: str | Path, metadata: dict[str, Any]) -> list[str]:
    """Write the fitted ``estimator`` and ``maestro-model.json``; return the file names written.

    ``metadata`` should carry ``task``, ``feature_names``, ``classes`` (classifiers),
    ``categorical_features``, ``signature`` and ``estimator``; the format, framework and
    library versions are added here.
    """
    framework = framework_of(estimator)
    fmt = model_format(framework)
    directory = Path(output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    model_file = MODEL_FILES[fmt]
    _write_model(fmt, estimator, directory / model_file)
    document = to_json_value(
        {
            **metadata,
            "metadata_version": METADATA_VERSION,
            "format": fmt,
            "framework": framework,
            "model_file": model_file,
            "categorical": bool(metadata.get("categorical_features")),
            "library_versions": library_versions(framework),
        }
    )
    (directory / METADATA_FILE).write_text(json.dumps(document, indent=2, allow_nan=False))
    return [model_file, METADATA_FILE]


def load_model(model_dir: str | Path) -> LoadedModel:
    """Load a model directory written by ``save_model``; InvalidInput if it is unsafe or broken."""
    directory = Path(model_dir)
    metadata = _read_metadata(directory)
    fmt = metadata["format"]
    path = directory / MODEL_FILES[fmt]
    if not path.is_file():
        raise InvalidInput(f"the model directory has no {path.name}")
    model = _read_model(fmt, path, metadata["task"])
    size = path.stat().st_size + (directory / METADATA_FILE).stat().st_size
    # In-memory size is not knowable without walking the objects; twice the files is close enough.
    return LoadedModel(model, metadata, approx_bytes=2 * size)


class LoadedModel:
    """A model ready to predict; ``metadata`` is the parsed ``maestro-model.json``."""

    def __init__(self, model: Any, metadata: dict[str, Any], approx_bytes: int) -> None:
        self.model = model
        self.metadata = metadata
        self.approx_bytes = approx_bytes
        self.format: str = metadata["format"]
        self.task: str = metadata["task"]
        self.feature_names: list[str] = list(metadata["feature_names"])
        self.classes: list[Any] | None = metadata.get("classes")
        self.categorical_features: list[str] = list(metadata.get("categorical_features") or [])
        # Numeric forests skip scikit-learn's per-call overhead (same numbers; see forests.py).
        self._forest = None if self.categorical_features else forest_function(model)

    def predict(self, rows: list[dict[str, Any]]) -> PredictionOutput:
        """Predict request rows (dicts of feature → value, None for missing).

        >>> model.predict([{"age": 42, "plan": "pro"}]).predictions  # doctest: +SKIP
        ['churned']
        """
        if self.categorical_features:
            frame = rows_to_frame(rows, self.feature_names, self.categorical_features)
            return self._predict(frame)
        return self._predict(rows_to_matrix(rows, self.feature_names))

    def predict_array(self, x: np.ndarray) -> PredictionOutput:
        """Predict a 2-D float matrix whose columns are ``feature_names`` (numeric models only)."""
        if self.categorical_features:
            raise InvalidInput("this model has categorical features; predict from rows instead")
        matrix = np.asarray(x, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != len(self.feature_names):
            raise InvalidInput(
                f"expected a 2-D array with {len(self.feature_names)} columns, "
                f"got shape {matrix.shape}"
            )
        return self._predict(matrix)

    def _predict(self, inputs: Any) -> PredictionOutput:
        if len(inputs) == 0:
            return PredictionOutput([], [] if self.task == CLASSIFICATION else None, self.classes)
        fast = self._forest(inputs) if self._forest is not None else None
        if self.task != CLASSIFICATION:
            values = fast if fast is not None else self.model.predict(inputs)
            return PredictionOutput(np.asarray(values, np.float64).tolist())
        probabilities = fast if fast is not None else self._probabilities(inputs)
        # The label is the most probable class, which is what the estimators' own predict does,
        # and it spares a second pass through the model.
        classes = self.classes or []
        labels = [classes[index] for index in probabilities.argmax(axis=1)]
        return PredictionOutput(labels, probabilities.tolist(), self.classes)

    def _probabilities(self, inputs: Any) -> np.ndarray:
        if self.format == LIGHTGBM_TEXT:
            positive_or_all = np.asarray(self.model.predict(inputs), dtype=np.float64)
            if positive_or_all.ndim == 1:
                return np.column_stack([1.0 - positive_or_all, positive_or_all])
            return positive_or_all
        return np.asarray(self.model.predict_proba(inputs), dtype=np.float64)


def library_versions(framework: str) -> dict[str, str]:
    """Versions of Python and the libraries a model of ``framework`` was written with."""
    versions = {"python": platform.python_version()}
    for distribution in _DISTRIBUTIONS[framework]:
        try:
            versions[distribution] = importlib_metadata.version(distribution)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def _write_model(fmt: str, estimator: Any, path: Path) -> None:
    if fmt == SKOPS:
        skops.io.dump(estimator, path)
    elif fmt == XGBOOST_JSON:
        estimator.save_model(str(path))
    else:
        estimator.booster_.save_model(str(path))


def _read_metadata(directory: Path) -> dict[str, Any]:
    path = directory / METADATA_FILE
    if not path.is_file():
        raise InvalidInput(f"not a Maestro model directory: {METADATA_FILE} is missing")
    try:
        metadata = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{METADATA_FILE} is not valid JSON: {exc}") from exc
    if not isinstance(metadata, dict):
        raise InvalidInput(f"{METADATA_FILE} must hold a JSON object")
    missing = [key for key in ("format", "task", "feature_names") if key not in metadata]
    if metadata.get("task") == CLASSIFICATION and not metadata.get("classes"):
        missing.append("classes")
    if missing:
        raise InvalidInput(f"{METADATA_FILE} lacks: {', '.join(missing)}")
    if not isinstance(metadata["format"], str) or metadata["format"] not in MODEL_FILES:
        raise InvalidInput(
            f"unknown model format '{metadata['format']}'; expected one of: "
            f"{', '.join(MODEL_FILES)}"
        )
    return metadata


def _read_model(fmt: str, path: Path, task: str) -> Any:
    if fmt == SKOPS:
        return _read_skops(path)
    try:
        if fmt == XGBOOST_JSON:
            import xgboost

            model = xgboost.XGBClassifier() if task == CLASSIFICATION else xgboost.XGBRegressor()
            model.load_model(str(path))
            # One thread, as lightgbm models keep from training: a server runs many models side
            # by side, and one-row predictions gain nothing from a thread pool.
            model.set_params(n_jobs=1)
            return model
        import lightgbm

        return lightgbm.Booster(model_file=str(path))
    except Exception as exc:
        # Both libraries raise their own error types (and ValueError) for corrupt files.
        raise InvalidInput(f"{path.name} could not be loaded as {fmt}: {exc}") from exc


def _read_skops(path: Path) -> Any:
    try:
        untrusted = skops.io.get_untrusted_types(file=path)
        refused = refused_types(untrusted)
        if refused:
            raise InvalidInput(
                f"refusing to load {path.name}: it contains types outside the allow-list: "
                f"{', '.join(refused)}",
                types=refused,
            )
        model = skops.io.load(path, trusted=untrusted)
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError) as exc:
        raise InvalidInput(f"{path.name} is not a valid skops file: {exc}") from exc
    if not hasattr(model, "predict"):
        raise InvalidInput(f"{path.name} does not hold a model (no predict method)")
    return model
