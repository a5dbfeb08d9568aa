"""Compiling scikit-learn tree and linear models to ONNX (skl2onnx), and the agreement check.

Only numeric models of well-understood shapes are compiled: a forest, tree, gradient
boosting or linear estimator, bare or behind the trainer's ``SimpleImputer``. The compiled
graph computes in float32 where scikit-learn's trees also compare float32 inputs, so labels
should match exactly and probabilities to float32 precision; ``agreement`` measures it on
rows the version was validated on, and the caller uses the ONNX model only when it agrees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

SUPPORTED_ESTIMATORS = frozenset({
    "RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier",
    "ExtraTreesRegressor", "DecisionTreeClassifier", "DecisionTreeRegressor",
    "GradientBoostingClassifier", "GradientBoostingRegressor", "LogisticRegression",
    "LinearRegression", "Ridge", "Lasso", "ElasticNet",
})
SUPPORTED_STEPS = frozenset({"SimpleImputer", "StandardScaler"})
PROBABILITY_TOLERANCE = 1e-5
"""Largest |ONNX - native| probability (or relative regression value) accepted."""


class NotCompilable(Exception):
    """The model is outside what is compiled; ``str(exc)`` says why."""


@dataclass(frozen=True)
class Agreement:
    rows: int
    label_mismatches: int
    max_abs_difference: float

    @property
    def agrees(self) -> bool:
        return self.rows > 0 and self.label_mismatches == 0 and (
            self.max_abs_difference <= PROBABILITY_TOLERANCE
        )

    def describe(self) -> str:
        return (f"{self.rows} validation rows: {self.label_mismatches} label mismatches, "
                f"largest difference {self.max_abs_difference:.3g} "
                f"(tolerance {PROBABILITY_TOLERANCE:g})")


def export_onnx(model: Any, n_features: int, classifier: bool) -> bytes:
    """The ONNX graph of ``model`` taking a float32 ``[n, n_features]`` input named ``x``."""
    _check_supported(model)
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    options = {id(_final(model)): {"zipmap": False}} if classifier else None
    try:
        graph = convert_sklearn(
            model, initial_types=[("x", FloatTensorType([None, n_features]))],
            options=options, target_opset=17,
        )
    except Exception as exc:  # skl2onnx raises many types for what it cannot convert
        raise NotCompilable(f"skl2onnx could not convert it: {exc}") from exc
    return bytes(graph.SerializeToString())


def agreement(
    native_labels: np.ndarray, native_values: np.ndarray, onnx_labels: np.ndarray,
    onnx_values: np.ndarray,
) -> Agreement:
    """How far ONNX's answers are from the native model's on the same rows."""
    mismatches = int(np.sum(np.asarray(native_labels) != np.asarray(onnx_labels)))
    native = np.asarray(native_values, dtype=np.float64)
    compiled = np.asarray(onnx_values, dtype=np.float64).reshape(native.shape)
    scale = np.maximum(1.0, np.abs(native))  # relative for large regression values
    difference = float(np.max(np.abs(native - compiled) / scale)) if native.size else 0.0
    return Agreement(len(native_labels), mismatches, difference)


def _final(model: Any) -> Any:
    steps = getattr(model, "steps", None)
    return steps[-1][1] if steps else model


def _check_supported(model: Any) -> None:
    steps = getattr(model, "steps", None)
    if steps:
        for name, step in steps[:-1]:
            if type(step).__name__ not in SUPPORTED_STEPS or getattr(step, "add_indicator", 0):
                raise NotCompilable(f"pipeline step '{name}' ({type(step).__name__}) is not "
                                    "compiled")
    final = _final(model)
    if type(final).__module__.split(".")[0] != "sklearn":
        raise NotCompilable(f"{type(final).__name__} is not a scikit-learn model")
    if type(final).__name__ not in SUPPORTED_ESTIMATORS:
        raise NotCompilable(f"{type(final).__name__} is not among the compiled estimators")
    if getattr(final, "n_outputs_", 1) != 1:
        raise NotCompilable("multi-output models are not compiled")
