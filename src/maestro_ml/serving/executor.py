"""Running a loaded model on checked rows: the one place the predict path calls a model."""

from __future__ import annotations

from typing import Any

from maestro_ml.ml.model_io import LoadedModel, PredictionOutput


class ModelExecutor:
    """Calls ``model.predict(rows)`` for the model cached under ``key``."""

    def run(self, key: str, model: LoadedModel, rows: list[dict[str, Any]]) -> PredictionOutput:
        return model.predict(rows)
