"""Validation metrics for classifiers and regressors, as plain floats.

Labels are the encoded class indices ``0..n_classes-1`` and ``probabilities`` has one column
per class, so metrics stay defined when a class is missing from the validation set. A metric
that cannot be computed (one class only, no probabilities) is left out rather than NaN.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
from sklearn import metrics as skm

from maestro_ml.ml.estimators import CLASSIFICATION, Task


def compute_metrics(
    task: Task,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    probabilities: np.ndarray | None = None,
) -> dict[str, float]:
    """Classification or regression metrics, by ``task``."""
    if task == CLASSIFICATION:
        return classification_metrics(y_true, y_pred, probabilities)
    return regression_metrics(y_true, y_pred)


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, probabilities: np.ndarray | None = None
) -> dict[str, float]:
    """accuracy, f1, precision, recall, and with probabilities roc_auc and log_loss.

    f1/precision/recall are binary (positive class = index 1) for two classes, weighted otherwise.

    >>> classification_metrics(np.array([0, 1]), np.array([0, 1]))["accuracy"]
    1.0
    """
    n_classes = probabilities.shape[1] if probabilities is not None else _n_classes(y_true, y_pred)
    labels = list(range(n_classes))
    average = "binary" if n_classes == 2 else "weighted"
    averaged = {"average": average, "labels": labels, "zero_division": 0}
    found = {
        "accuracy": lambda: skm.accuracy_score(y_true, y_pred),
        "f1": lambda: skm.f1_score(y_true, y_pred, **averaged),
        "precision": lambda: skm.precision_score(y_true, y_pred, **averaged),
        "recall": lambda: skm.recall_score(y_true, y_pred, **averaged),
    }
    if probabilities is not None:
        found["roc_auc"] = lambda: _roc_auc(y_true, probabilities, labels)
        found["log_loss"] = lambda: skm.log_loss(y_true, probabilities, labels=labels)
    return _evaluate(found)


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """rmse, mae and r2.

    >>> regression_metrics(np.array([1.0, 2.0]), np.array([1.0, 2.0]))["rmse"]
    0.0
    """
    return _evaluate(
        {
            "rmse": lambda: skm.root_mean_squared_error(y_true, y_pred),
            "mae": lambda: skm.mean_absolute_error(y_true, y_pred),
            "r2": lambda: skm.r2_score(y_true, y_pred),
        }
    )


def _roc_auc(y_true: np.ndarray, probabilities: np.ndarray, labels: list[int]) -> float:
    if len(labels) == 2:
        return skm.roc_auc_score(y_true, probabilities[:, 1])
    return skm.roc_auc_score(
        y_true, probabilities, multi_class="ovr", average="weighted", labels=labels
    )


def _n_classes(y_true: np.ndarray, y_pred: np.ndarray) -> int:
    return int(max(np.max(y_true), np.max(y_pred))) + 1


def _evaluate(metrics: dict[str, Callable[[], float]]) -> dict[str, float]:
    values: dict[str, float] = {}
    for name, compute in metrics.items():
        with warnings.catch_warnings():
            # Undefined metrics (one class, one sample) are dropped below instead of warned about.
            warnings.simplefilter("ignore")
            try:
                value = float(compute())
            except ValueError:
                continue
        if math.isfinite(value):
            values[name] = value
    return values
