"""Running a loaded model on checked rows: the one place the predict path calls a model.

``run`` is what the (synchronous) predict use case calls. Inside ``loop_bridge.run_on_loop``
— how the HTTP handlers run it — the call goes through the micro-batcher, merged with other
concurrent requests for the same model, and the use case is suspended on the event loop
meanwhile; anywhere else (worker threads, the CLI, tests) the model is called directly.
Every model call reports its row count to ``observe_batch_size``.
"""

from __future__ import annotations

from typing import Any

from maestro_ml.ml.model_io import LoadedModel, PredictionOutput
from maestro_ml.observability.metrics import observe_batch_size
from maestro_ml.observability.tracing import span

from .batching import MicroBatcher
from .loop_bridge import in_bridge, wait_for

DEFAULT_MAX_BATCH_ROWS = 256


def split_output(output: PredictionOutput, sizes: list[int]) -> list[PredictionOutput]:
    """Cut one model call's output back into the outputs of the requests merged into it."""
    parts: list[PredictionOutput] = []
    start = 0
    for size in sizes:
        end = start + size
        probabilities = output.probabilities
        parts.append(PredictionOutput(
            output.predictions[start:end],
            probabilities[start:end] if probabilities is not None else None,
            output.classes,
        ))
        start = end
    return parts


class ModelExecutor:
    """Calls ``model.predict(rows)`` for the model cached under ``key``, batching when it can."""

    def __init__(
        self, *, batching: bool = True, max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS,
        threads: int = 4,
    ) -> None:
        self.batching = batching
        self._batcher: MicroBatcher[PredictionOutput] = MicroBatcher(
            split_output, max_rows=max_batch_rows, threads=threads, on_call=observe_batch_size
        )

    def run(self, key: str, model: LoadedModel, rows: list[dict[str, Any]]) -> PredictionOutput:
        with span("model.predict", {"maestro.model": key, "maestro.rows": len(rows)}):
            if self.batching and in_bridge():
                return wait_for(self._batcher.submit(key, model.predict, rows))
            observe_batch_size(len(rows))
            return model.predict(rows)

    async def run_async(
        self, key: str, model: LoadedModel, rows: list[dict[str, Any]]
    ) -> PredictionOutput:
        """The batched call for callers already on the event loop."""
        return await self._batcher.submit(key, model.predict, rows)

    @property
    def batcher(self) -> MicroBatcher[PredictionOutput]:
        return self._batcher

    def close(self) -> None:
        self._batcher.close()
