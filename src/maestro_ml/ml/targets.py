"""The target column: which task it implies, and its encoding into what estimators fit.

Classifiers are always fitted on labels ``0..n-1``; the original labels travel in the model's
metadata so predictions can be turned back into them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from maestro_ml.domain.errors import TrainingError
from maestro_ml.ml.estimators import CLASSIFICATION, REGRESSION, Task
from maestro_ml.ml.json_values import to_json_value

# An integer target with at most this many distinct values is taken for class labels.
MAX_INFERRED_CLASSES = 20


def infer_task(target: pd.Series) -> Task:
    """Classification for non-numeric or boolean targets and integers with few distinct values.

    >>> infer_task(pd.Series([0, 1, 1, 0]))
    'classification'
    """
    if ptypes.is_bool_dtype(target.dtype) or not ptypes.is_numeric_dtype(target.dtype):
        return CLASSIFICATION
    values = target.dropna()
    if _is_integral(values) and values.nunique() <= MAX_INFERRED_CLASSES:
        return CLASSIFICATION
    return REGRESSION


def encode_target(
    frame: pd.DataFrame, target: str, task: Task
) -> tuple[pd.DataFrame, np.ndarray, list[Any] | None]:
    """The frame with the target column cleaned, the encoded ``y``, and the class labels.

    Classification labels are encoded as ``0..n-1`` in sorted order and returned JSON-safe;
    a regression target becomes float64. A target that cannot serve is a TrainingError.
    """
    column = frame[target]
    if task == REGRESSION:
        try:
            column = pd.to_numeric(column).astype(np.float64)
        except (ValueError, TypeError) as exc:
            raise TrainingError(
                f"target '{target}' must be numeric for regression: {exc}", target=target
            ) from exc
        return frame.assign(**{target: column}), column.to_numpy(), None
    column = _as_labels(column)
    classes, y = np.unique(column.to_numpy(), return_inverse=True)
    if len(classes) < 2:
        raise TrainingError(
            f"target '{target}' has a single class ({to_json_value(classes[0])!r}); "
            "classification needs at least two",
            target=target,
        )
    labels = [to_json_value(label) for label in classes]
    return frame.assign(**{target: column}), y.astype(np.int64), labels


def _as_labels(column: pd.Series) -> pd.Series:
    # Labels must sort, so mixed or text values become strings; 1.0/2.0 read from a CSV with
    # gaps become the integers they were.
    if ptypes.is_bool_dtype(column.dtype):
        return column.astype(bool)
    if ptypes.is_numeric_dtype(column.dtype):
        return column.astype(np.int64) if _is_integral(column) else column.astype(np.float64)
    return column.astype(object).map(str)


def _is_integral(values: pd.Series) -> bool:
    if ptypes.is_integer_dtype(values.dtype):
        return True
    numbers = values.to_numpy(dtype=np.float64)
    return bool(np.all(np.isfinite(numbers)) and np.all(np.mod(numbers, 1) == 0))
