"""A direct path through scikit-learn forests for small batches.

``RandomForest*.predict_proba`` costs about 3 ms for one row with 100 trees, almost all of it
joblib's dispatch and per-tree input checks, not the trees (about 0.25 ms). Serving calls it
with validated float matrices, so we call each fitted tree ourselves without the checks
(``check_input=False``, on the float32 C-ordered input scikit-learn itself would build) and
accumulate exactly as the forest does — summed in tree order, divided by the number of
trees — for the same numbers several times faster.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

ForestFunction = Callable[[np.ndarray], np.ndarray | None]

_CLASSIFIERS = {"RandomForestClassifier", "ExtraTreesClassifier"}
_REGRESSORS = {"RandomForestRegressor", "ExtraTreesRegressor"}


def forest_function(model: Any) -> ForestFunction | None:
    """Probabilities (classifiers) or predictions (regressors) of a fitted single-output forest
    — bare, or after a numeric ``SimpleImputer`` as Maestro's trainer builds it — computed tree
    by tree; None for anything else (other pipelines, boosting, multi-output).

    The returned function answers None for inputs it will not take (values still missing or
    infinite after imputation): the caller then uses the model's own, checking, path.
    """
    fill, forest = _unwrap(model)
    if forest is None:
        return None
    name = type(forest).__name__
    if type(forest).__module__.split(".")[0] != "sklearn" or not hasattr(forest, "estimators_"):
        return None
    if getattr(forest, "n_outputs_", 1) != 1 or name not in _CLASSIFIERS | _REGRESSORS:
        return None
    trees = [estimator.tree_ for estimator in forest.estimators_]  # the fitted Cython trees
    if name in _CLASSIFIERS:
        n_classes = int(forest.n_classes_)
        return lambda x: _guarded(x, fill, lambda z: _mean_probabilities(trees, z, n_classes))
    if name in _REGRESSORS:
        return lambda x: _guarded(x, fill, lambda z: _mean_values(trees, z))
    return None


def _unwrap(model: Any) -> tuple[np.ndarray | None, Any]:
    """(imputation values or None, the forest) — or (None, None) when the shape is unknown."""
    steps = getattr(model, "steps", None)
    if steps is None:
        return None, model
    if len(steps) != 2 or type(steps[0][1]).__name__ != "SimpleImputer":
        return None, None
    imputer = steps[0][1]
    statistics = np.asarray(getattr(imputer, "statistics_", None), dtype=np.float64)
    # An imputer that drops all-missing columns or adds indicators changes the shape.
    if getattr(imputer, "add_indicator", False) or not np.isfinite(statistics).all():
        return None, None
    return statistics, steps[1][1]


def _guarded(
    x: np.ndarray, fill: np.ndarray | None, predict: ForestFunction
) -> np.ndarray | None:
    if fill is not None:
        x = np.where(np.isnan(x), fill, x)
    if not np.isfinite(x).all():
        return None
    return predict(_as_tree_input(x))


def _as_tree_input(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)


def _mean_probabilities(trees: list[Any], x: np.ndarray, n_classes: int) -> np.ndarray:
    # ``tree_.predict`` is what DecisionTreeClassifier.predict_proba returns (first
    # ``n_classes`` columns) after its per-call ``check_is_fitted``, which costs more than
    # the tree itself for a few rows.
    total = np.zeros((x.shape[0], n_classes), dtype=np.float64)
    for tree in trees:
        total += tree.predict(x)[:, :n_classes]
    total /= len(trees)
    return total


def _mean_values(trees: list[Any], x: np.ndarray) -> np.ndarray:
    total = np.zeros(x.shape[0], dtype=np.float64)
    for tree in trees:
        total += tree.predict(x)[:, 0]
    total /= len(trees)
    return total
