"""Serving a version through ONNX Runtime, when it agrees with the native model.

``compile_version(model, validation_rows)`` exports a numeric scikit-learn model with
``ml.onnx_export``, runs both on the rows the version was validated on (kept next to the
model at training time), and returns an ``OnnxModel`` only when labels match on every row
and probabilities to within the tolerance; otherwise the native model, with the reason.
``OnnxModel`` is a ``LoadedModel`` (same metadata, same labels from the stored classes)
whose numeric path runs the ONNX graph in one single-threaded session.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from maestro_ml.ml.estimators import CLASSIFICATION
from maestro_ml.ml.model_io import LoadedModel, PredictionOutput
from maestro_ml.ml.onnx_export import NotCompilable, agreement, export_onnx

log = logging.getLogger(__name__)

VALIDATION_SAMPLE_FILE = "validation-sample.json"


@dataclass(frozen=True)
class Compilation:
    """What happened when a version was offered to ONNX Runtime."""

    runtime: str
    """``onnxruntime`` or ``native``."""
    reason: str


class OnnxModel(LoadedModel):
    """A ``LoadedModel`` whose predictions come from an ONNX Runtime session."""

    def __init__(self, native: LoadedModel, graph: bytes) -> None:
        super().__init__(native.model, native.metadata, native.approx_bytes + 2 * len(graph))
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # One thread per call: a server runs many models side by side, and the batcher
        # already merges concurrent requests into one call.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            graph, options, providers=["CPUExecutionProvider"]
        )
        outputs = [o.name for o in self._session.get_outputs()]
        self._output = outputs[-1]  # probabilities (classifiers) or the values (regressors)
        self._native = native
        self.runtime = "onnxruntime"

    def _predict(self, inputs: Any) -> PredictionOutput:
        matrix = np.asarray(inputs, dtype=np.float64)
        if len(matrix) == 0 or not np.isfinite(np.nan_to_num(matrix, nan=0.0)).all():
            return self._native._predict(inputs)  # its own checks and errors
        values = self._session.run([self._output], {"x": matrix.astype(np.float32)})[0]
        if self.task != CLASSIFICATION:
            return PredictionOutput(np.asarray(values, np.float64).reshape(-1).tolist())
        probabilities = np.asarray(values, dtype=np.float64)
        classes = self.classes or []
        labels = [classes[index] for index in probabilities.argmax(axis=1)]
        return PredictionOutput(labels, probabilities.tolist(), self.classes)


def compile_version(
    model: LoadedModel, validation_rows: list[list[float]] | None
) -> tuple[LoadedModel, Compilation]:
    """The ONNX-backed model when it agrees with ``model`` on ``validation_rows``, else
    ``model`` itself; and why."""
    if model.categorical_features:
        return model, Compilation("native", "categorical features are not compiled")
    if not validation_rows:
        return model, Compilation("native", "no validation rows are stored with this version")
    classifier = model.task == CLASSIFICATION
    try:
        graph = export_onnx(model.model, len(model.feature_names), classifier)
        compiled = OnnxModel(model, graph)
    except NotCompilable as exc:
        return model, Compilation("native", str(exc))
    except Exception as exc:  # onnxruntime refusing the graph is a reason to stay native
        return model, Compilation("native", f"ONNX Runtime could not load the graph: {exc}")
    x = np.asarray(validation_rows, dtype=np.float64)
    native, onnx = model.predict_array(x), compiled.predict_array(x)
    if classifier:
        check = agreement(native.predictions, native.probabilities or [],
                          onnx.predictions, onnx.probabilities or [])
    else:
        check = agreement(np.zeros(len(x)), native.predictions, np.zeros(len(x)),
                          onnx.predictions)
    if not check.agrees:
        return model, Compilation("native", "ONNX disagrees with the native model on "
                                  + check.describe())
    return compiled, Compilation("onnxruntime", "agrees on " + check.describe())
