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

ForestFunction = Callable[[np.ndarray], np.ndarray]

_CLASSIFIERS = {"RandomForestClassifier", "ExtraTreesClassifier"}
_REGRESSORS = {"RandomForestRegressor", "ExtraTreesRegressor"}


def forest_function(model: Any) -> ForestFunction | None:
    """Probabilities (classifiers) or predictions (regressors) of a fitted single-output forest,
    computed tree by tree; None for anything else (pipelines, boosting, multi-output)."""
    name = type(model).__name__
    if type(model).__module__.split(".")[0] != "sklearn" or not hasattr(model, "estimators_"):
        return None
    if getattr(model, "n_outputs_", 1) != 1:
        return None
    trees = list(model.estimators_)
    if name in _CLASSIFIERS:
        n_classes = int(model.n_classes_)
        return lambda x: _mean_probabilities(trees, _as_tree_input(x), n_classes)
    if name in _REGRESSORS:
        return lambda x: _mean_values(trees, _as_tree_input(x))
    return None


def _as_tree_input(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)


def _mean_probabilities(trees: list[Any], x: np.ndarray, n_classes: int) -> np.ndarray:
    total = np.zeros((x.shape[0], n_classes), dtype=np.float64)
    for tree in trees:
        total += tree.predict_proba(x, check_input=False)
    total /= len(trees)
    return total


def _mean_values(trees: list[Any], x: np.ndarray) -> np.ndarray:
    total = np.zeros(x.shape[0], dtype=np.float64)
    for tree in trees:
        total += tree.predict(x, check_input=False)
    total /= len(trees)
    return total
