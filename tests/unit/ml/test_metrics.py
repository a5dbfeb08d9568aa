"""Validation metrics."""

from __future__ import annotations

import numpy as np
import pytest

from maestro_ml.ml.metrics import classification_metrics, compute_metrics


def test_binary_metrics_use_the_positive_class():
    y_true = np.array([0, 0, 1, 1])
    probabilities = np.array([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8]])

    metrics = classification_metrics(y_true, probabilities.argmax(axis=1), probabilities)

    assert metrics["accuracy"] == 0.75
    assert metrics["precision"] == pytest.approx(2 / 3)
    assert metrics["recall"] == 1.0
    assert metrics["roc_auc"] == 1.0
    assert all(type(value) is float for value in metrics.values())


def test_multiclass_metrics_survive_a_class_missing_from_validation():
    y_true = np.array([0, 1, 1, 0])
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.6, 0.2], [0.5, 0.4, 0.1]])

    metrics = classification_metrics(y_true, probabilities.argmax(axis=1), probabilities)

    assert metrics["accuracy"] == 1.0
    assert {"f1", "precision", "recall", "log_loss"} <= set(metrics)


def test_undefined_metric_is_left_out_not_nan():
    metrics = compute_metrics("regression", np.array([1.0]), np.array([1.5]))

    assert metrics == {"rmse": 0.5, "mae": 0.5}
