"""The registry of estimators a user may train, by name, and building them from hyper-parameters.

Names are matched case-insensitively; ``xgboost``, ``lightgbm`` and ``lgbm`` resolve to the
classifier or regressor of that library according to the task. Classes are imported only when
an estimator is built, so importing this module does not load xgboost or lightgbm.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Literal

from maestro_ml.domain.errors import TrainingError

Task = Literal["classification", "regression"]
Framework = Literal["sklearn", "xgboost", "lightgbm"]

CLASSIFICATION: Task = "classification"
REGRESSION: Task = "regression"
TASKS: tuple[Task, ...] = (CLASSIFICATION, REGRESSION)


@dataclass(frozen=True)
class EstimatorEntry:
    """One trainable estimator class and what Maestro knows about it."""

    name: str
    module: str
    task: Task
    framework: Framework
    # Takes n_jobs, pinned to 1 because the worker runs several jobs side by side.
    threaded: bool = False
    # Takes random_state, set from the spec so a run can be repeated.
    seeded: bool = False

    def load_class(self) -> type:
        return getattr(importlib.import_module(self.module), self.name)


def _sk(
    name: str, module: str, task: Task, *, threaded: bool = False, seeded: bool = True
) -> EstimatorEntry:
    return EstimatorEntry(name, f"sklearn.{module}", task, "sklearn", threaded, seeded)


_ENTRIES = (
    _sk("RandomForestClassifier", "ensemble", CLASSIFICATION, threaded=True),
    _sk("RandomForestRegressor", "ensemble", REGRESSION, threaded=True),
    _sk("ExtraTreesClassifier", "ensemble", CLASSIFICATION, threaded=True),
    _sk("ExtraTreesRegressor", "ensemble", REGRESSION, threaded=True),
    _sk("GradientBoostingClassifier", "ensemble", CLASSIFICATION),
    _sk("GradientBoostingRegressor", "ensemble", REGRESSION),
    _sk("DecisionTreeClassifier", "tree", CLASSIFICATION),
    _sk("DecisionTreeRegressor", "tree", REGRESSION),
    # LogisticRegression's n_jobs is deprecated (no effect since scikit-learn 1.8).
    _sk("LogisticRegression", "linear_model", CLASSIFICATION),
    _sk("LinearRegression", "linear_model", REGRESSION, threaded=True, seeded=False),
    _sk("Ridge", "linear_model", REGRESSION),
    _sk("Lasso", "linear_model", REGRESSION),
    _sk("KNeighborsClassifier", "neighbors", CLASSIFICATION, threaded=True, seeded=False),
    _sk("KNeighborsRegressor", "neighbors", REGRESSION, threaded=True, seeded=False),
    EstimatorEntry("XGBClassifier", "xgboost", CLASSIFICATION, "xgboost", True, True),
    EstimatorEntry("XGBRegressor", "xgboost", REGRESSION, "xgboost", True, True),
    EstimatorEntry("LGBMClassifier", "lightgbm", CLASSIFICATION, "lightgbm", True, True),
    EstimatorEntry("LGBMRegressor", "lightgbm", REGRESSION, "lightgbm", True, True),
)
_BY_NAME = {entry.name.lower(): entry for entry in _ENTRIES}
_ALIASES: dict[str, dict[Task, str]] = {
    "xgboost": {CLASSIFICATION: "xgbclassifier", REGRESSION: "xgbregressor"},
    "lightgbm": {CLASSIFICATION: "lgbmclassifier", REGRESSION: "lgbmregressor"},
    "lgbm": {CLASSIFICATION: "lgbmclassifier", REGRESSION: "lgbmregressor"},
}


def available_estimators(task: Task | None = None) -> list[str]:
    """Registered estimator names, for one task or all."""
    return [entry.name for entry in _ENTRIES if task is None or entry.task == task]


def task_of_estimator(name: str) -> Task | None:
    """The task an estimator name implies, or None for a library alias such as ``xgboost``."""
    entry = _BY_NAME.get(name.strip().lower())
    return entry.task if entry else None


def resolve_estimator(name: str, task: Task) -> EstimatorEntry:
    """The registry entry for ``name`` (or alias) on ``task``; TrainingError if there is none."""
    if task not in TASKS:
        raise TrainingError(f"unknown task '{task}'; expected one of: {', '.join(TASKS)}")
    key = name.strip().lower()
    if key in _ALIASES:
        key = _ALIASES[key][task]
    entry = _BY_NAME.get(key)
    available = ", ".join(available_estimators(task))
    if entry is None:
        raise TrainingError(
            f"unknown estimator '{name}'; available for {task}: {available}", estimator=name
        )
    if entry.task != task:
        raise TrainingError(
            f"{entry.name} is a {entry.task} estimator but the task is {task}; "
            f"use one of: {available}",
            estimator=name,
        )
    return entry


def build_estimator(
    name: str, task: Task, hyperparameters: dict[str, Any] | None = None, *, random_state: int = 42
) -> Any:
    """An unfitted estimator with Maestro's defaults overridden by ``hyperparameters``.

    >>> build_estimator("RandomForestClassifier", "classification", {"n_estimators": 10})
    RandomForestClassifier(n_estimators=10, n_jobs=1, random_state=42)
    """
    entry = resolve_estimator(name, task)
    hyperparameters = dict(hyperparameters or {})
    if not all(isinstance(key, str) for key in hyperparameters):
        raise TrainingError("hyper-parameter names must be strings")
    cls = entry.load_class()
    params = {**_default_params(entry, random_state), **hyperparameters}
    valid = set(cls(**_default_params(entry, random_state)).get_params(deep=False))
    unknown = sorted(set(hyperparameters) - valid)
    if unknown:
        raise TrainingError(
            f"unknown hyper-parameter(s) for {entry.name}: {', '.join(unknown)}; "
            f"valid ones: {', '.join(sorted(valid))}",
            hyperparameters=unknown,
        )
    try:
        return cls(**params)
    except (ValueError, TypeError) as exc:
        raise TrainingError(f"invalid hyper-parameters for {entry.name}: {exc}") from exc


def fit_error_types(framework: Framework) -> tuple[type[Exception], ...]:
    """Exceptions that mean "bad data or hyper-parameters" when fitting this framework's models."""
    if framework == "lightgbm":
        from lightgbm.basic import LightGBMError

        return (ValueError, TypeError, LightGBMError)
    # xgboost's XGBoostError is a ValueError.
    return (ValueError, TypeError)


def _default_params(entry: EstimatorEntry, random_state: int) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if entry.threaded:
        params["n_jobs"] = 1
    if entry.seeded:
        params["random_state"] = random_state
    if entry.framework == "xgboost":
        params["verbosity"] = 0
    elif entry.framework == "lightgbm":
        params["verbose"] = -1
    return params
