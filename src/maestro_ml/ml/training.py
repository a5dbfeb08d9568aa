"""Training one model from a dataset file: the spec, the steps, and the result.

``train_model`` reads the table, picks the task, splits off a validation set, fits the
estimator (inside a preprocessing pipeline for scikit-learn), measures it on the validation
set and saves it with ``model_io.save_model``. It reports progress through a callback so the
job worker can stream it; see ``training_process`` for the subprocess around it.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from maestro_ml.domain.errors import TrainingError
from maestro_ml.ml.datasets import FORMATS, detect_format, read_table
from maestro_ml.ml.estimators import (
    CLASSIFICATION,
    TASKS,
    EstimatorEntry,
    Task,
    build_estimator,
    fit_error_types,
    resolve_estimator,
    task_of_estimator,
)
from maestro_ml.ml.features import (
    build_pipeline,
    frame_for_model,
    numeric_matrix,
    split_feature_kinds,
)
from maestro_ml.ml.json_values import to_json_value
from maestro_ml.ml.metrics import compute_metrics
from maestro_ml.ml.model_io import model_format, save_model
from maestro_ml.ml.signature import DATETIME, column_type, infer_signature
from maestro_ml.ml.targets import encode_target, infer_task

Report = Callable[[dict[str, Any]], None]

_MAX_WARNINGS_REPORTED = 10


@dataclass
class TrainingSpec:
    """What to train. ``task=None`` means: the estimator's task, else inferred from the target."""

    target: str
    estimator: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    task: Task | None = None
    validation_fraction: float = 0.2
    random_state: int = 42
    dataset_format: str | None = None  # None: from the dataset file's extension

    def __post_init__(self) -> None:
        if self.hyperparameters is None:
            self.hyperparameters = {}
        problems = []
        if not isinstance(self.target, str) or not self.target:
            problems.append("target must be a non-empty string")
        if not isinstance(self.estimator, str) or not self.estimator:
            problems.append("estimator must be a non-empty string")
        if not isinstance(self.hyperparameters, dict):
            problems.append("hyperparameters must be an object")
        if self.task is not None and self.task not in TASKS:
            problems.append(f"task must be one of: {', '.join(TASKS)} (or null)")
        if not _is_number(self.validation_fraction) or not 0 < self.validation_fraction < 1:
            problems.append("validation_fraction must be between 0 and 1, exclusive")
        if not isinstance(self.random_state, int) or isinstance(self.random_state, bool):
            problems.append("random_state must be an integer")
        if self.dataset_format is not None and self.dataset_format not in FORMATS:
            problems.append(f"dataset_format must be one of: {', '.join(FORMATS)} (or null)")
        if problems:
            raise TrainingError("invalid training spec: " + "; ".join(problems))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainingSpec:
        """Build a spec from JSON; unknown or missing fields are a TrainingError."""
        if not isinstance(data, Mapping):
            raise TrainingError("the training spec must be an object")
        known = {spec_field.name for spec_field in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TrainingError(f"unknown training spec field(s): {', '.join(unknown)}")
        missing = [name for name in ("target", "estimator") if name not in data]
        if missing:
            raise TrainingError(f"the training spec needs: {', '.join(missing)}")
        return cls(**data)


@dataclass
class TrainingResult:
    """What training produced; ``model`` is the fitted in-memory model, left out of ``to_dict``."""

    metrics: dict[str, float]
    signature: dict[str, Any]
    task: Task
    framework: str
    estimator: str
    format: str
    classes: list[Any] | None
    n_train: int
    n_validation: int
    feature_names: list[str]
    files: list[str]
    model: Any = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-safe result, without the in-memory model."""
        # Not asdict(): it deep-copies every field, the fitted model included.
        return to_json_value(
            {f.name: getattr(self, f.name) for f in fields(self) if f.name != "model"}
        )


def train_model(
    spec: TrainingSpec,
    dataset_path: str | Path,
    output_dir: str | Path,
    report: Report | None = None,
) -> TrainingResult:
    """Train ``spec`` on the dataset file and save the model into ``output_dir``.

    >>> spec = TrainingSpec(target="churned", estimator="RandomForestClassifier")
    >>> train_model(spec, "churn.csv", "out/", print).metrics  # doctest: +SKIP
    {'accuracy': 0.93, 'f1': 0.91, ...}
    """
    events = _Events(report)
    events.progress(0.0, "Loading dataset")
    data = _prepare(spec, dataset_path, events)

    events.progress(0.15, "Splitting into training and validation sets")
    train_rows, validation_rows = _split(data.y, data.task, spec, events)
    events.progress(0.25, f"Fitting {data.entry.name} on {len(train_rows)} rows")
    _fit(data.model, _take(data.x, train_rows), data.y[train_rows], data.entry, events)
    events.progress(0.8, f"Evaluating on {len(validation_rows)} validation rows")
    metrics = _evaluate(
        data.model, _take(data.x, validation_rows), data.y[validation_rows], data.task
    )
    events.log("Validation metrics: " + ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()))

    events.progress(0.9, "Saving model")
    metadata = {
        "task": data.task,
        "estimator": data.entry.name,
        "target": spec.target,
        "hyperparameters": spec.hyperparameters,
        "classes": data.classes,
        "feature_names": data.feature_names,
        "categorical_features": data.categorical,
        "signature": data.signature,
        "metrics": metrics,
    }
    files = save_model(data.model, output_dir, metadata)
    files += _save_validation_sample(output_dir, _take(data.x, validation_rows))
    events.progress(1.0, "Training finished")
    return TrainingResult(
        metrics=metrics,
        signature=data.signature,
        task=data.task,
        framework=data.entry.framework,
        estimator=data.entry.name,
        format=model_format(data.entry.framework),
        classes=data.classes,
        n_train=len(train_rows),
        n_validation=len(validation_rows),
        feature_names=data.feature_names,
        files=files,
        model=data.model,
    )


@dataclass
class _Prepared:
    """Everything decided before fitting: the task, the unfitted model and its inputs."""

    entry: EstimatorEntry
    task: Task
    model: Any
    x: np.ndarray | pd.DataFrame
    y: np.ndarray
    classes: list[Any] | None
    signature: dict[str, Any]
    categorical: list[str]

    @property
    def feature_names(self) -> list[str]:
        return [column["name"] for column in self.signature["inputs"]]


def _prepare(spec: TrainingSpec, dataset_path: str | Path, events: _Events) -> _Prepared:
    frame = _load_frame(spec, dataset_path, events)
    task = _choose_task(spec, frame[spec.target], events)
    entry = resolve_estimator(spec.estimator, task)
    estimator = build_estimator(
        entry.name, task, spec.hyperparameters, random_state=spec.random_state
    )
    frame, y, classes = encode_target(frame, spec.target, task)
    signature = infer_signature(frame, spec.target)
    feature_names = [column["name"] for column in signature["inputs"]]
    numeric, categorical = split_feature_kinds(frame, feature_names)
    _check_features(entry, categorical)
    if categorical:
        x = frame_for_model(frame, feature_names, categorical)
    else:
        # A float matrix in signature order: the loaded model then predicts from plain arrays.
        x = numeric_matrix(frame, feature_names)
    model = estimator
    if entry.framework == "sklearn":
        model = build_pipeline(estimator, numeric, categorical)
    return _Prepared(entry, task, model, x, y, classes, signature, categorical)


class _Events:
    """Builds the event dicts handed to the ``report`` callback."""

    def __init__(self, report: Report | None) -> None:
        self._report = report or (lambda event: None)

    def progress(self, fraction: float, message: str) -> None:
        self._report({"type": "progress", "progress": fraction, "message": message})

    def log(self, message: str, level: str = "info") -> None:
        self._report({"type": "log", "level": level, "message": message})


def _load_frame(spec: TrainingSpec, dataset_path: str | Path, events: _Events) -> pd.DataFrame:
    fmt = spec.dataset_format or detect_format(Path(dataset_path).name)
    frame = read_table(dataset_path, fmt)
    events.log(f"Read {len(frame)} rows and {len(frame.columns)} columns ({fmt})")
    if spec.target not in frame.columns:
        raise TrainingError(
            f"target column '{spec.target}' is not in the dataset; "
            f"columns: {_name_list(frame.columns)}",
            target=spec.target,
        )
    missing = frame[spec.target].isna()
    if missing.any():
        events.log(f"Dropped {int(missing.sum())} rows without a '{spec.target}'", "warning")
        frame = frame.loc[~missing].reset_index(drop=True)
    dates = [
        name
        for name in frame.columns
        if name != spec.target and column_type(frame[name]) == DATETIME
    ]
    if dates:
        events.log(f"Ignoring datetime column(s): {_name_list(dates)}", "warning")
        frame = frame.drop(columns=dates)
    if len(frame.columns) < 2:
        raise TrainingError(f"the dataset has no feature columns besides '{spec.target}'")
    if len(frame) < 2:
        raise TrainingError(f"at least 2 rows with a '{spec.target}' value are needed")
    return frame


def _choose_task(spec: TrainingSpec, target: pd.Series, events: _Events) -> Task:
    if spec.task is not None:
        return spec.task
    task = task_of_estimator(spec.estimator)
    if task is not None:
        events.log(f"Task: {task} (from the estimator)")
        return task
    task = infer_task(target)
    events.log(f"Task: {task} (inferred from the target column)")
    return task


def _check_features(entry: EstimatorEntry, categorical: list[str]) -> None:
    if categorical and entry.framework != "sklearn":
        alternative = (
            "RandomForestClassifier" if entry.task == CLASSIFICATION else "RandomForestRegressor"
        )
        raise TrainingError(
            f"{entry.name} needs numeric features, but these columns are not numeric: "
            f"{_name_list(categorical)}; encode them as numbers or use a scikit-learn "
            f"estimator such as {alternative}, which one-hot encodes them",
            columns=categorical,
        )


def _split(
    y: np.ndarray, task: Task, spec: TrainingSpec, events: _Events
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices for training and validation, stratified by class when that is possible."""
    rows = np.arange(len(y))
    split = {"test_size": spec.validation_fraction, "random_state": spec.random_state}
    try:
        if task == CLASSIFICATION:
            try:
                return tuple(train_test_split(rows, stratify=y, **split))  # type: ignore[return-value]
            except ValueError:
                events.log("Some classes are too rare to stratify; splitting at random", "warning")
        train, validation = train_test_split(rows, **split)
    except ValueError as exc:
        raise TrainingError(f"cannot split {len(y)} rows for validation: {exc}") from exc
    if task == CLASSIFICATION:
        # Every class must be seen in training, or the model could not predict it at all
        # (and xgboost refuses labels with gaps).
        unseen = np.isin(y[validation], y[train], invert=True)
        train = np.concatenate([train, validation[unseen]])
        validation = validation[~unseen]
    return train, validation


VALIDATION_SAMPLE_FILE = "validation-sample.json"
VALIDATION_SAMPLE_ROWS = 256


def _save_validation_sample(output_dir: str | Path, x: np.ndarray | pd.DataFrame) -> list[str]:
    """Keep some validation inputs next to a numeric model: serving checks a compiled (ONNX)
    form of the model against the native one on them before using it."""
    if isinstance(x, pd.DataFrame):
        return []  # categorical inputs: such models are not compiled
    sample = np.asarray(x[:VALIDATION_SAMPLE_ROWS], dtype=np.float64)
    rows = [[float(v) if np.isfinite(v) else None for v in row] for row in sample]
    (Path(output_dir) / VALIDATION_SAMPLE_FILE).write_text(json.dumps(rows, allow_nan=False))
    return [VALIDATION_SAMPLE_FILE]


def _take(x: np.ndarray | pd.DataFrame, rows: np.ndarray) -> np.ndarray | pd.DataFrame:
    return x.iloc[rows] if isinstance(x, pd.DataFrame) else x[rows]


def _fit(model: Any, x: Any, y: np.ndarray, entry: EstimatorEntry, events: _Events) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.fit(x, y)
        except fit_error_types(entry.framework) as exc:
            raise TrainingError(f"{entry.name} could not be trained: {str(exc).strip()}") from exc
    messages = list(dict.fromkeys(str(warning.message) for warning in caught))
    for message in messages[:_MAX_WARNINGS_REPORTED]:
        events.log(message, "warning")


def _evaluate(model: Any, x: Any, y: np.ndarray, task: Task) -> dict[str, float]:
    if len(y) == 0:
        return {}
    predictions = model.predict(x)
    probabilities = None
    if task == CLASSIFICATION and hasattr(model, "predict_proba"):
        probabilities = model.predict_proba(x)
    return compute_metrics(task, y, predictions, probabilities)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _name_list(names: Any, limit: int = 50) -> str:
    names = [str(name) for name in names]
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} ... ({len(names) - limit} more)"
