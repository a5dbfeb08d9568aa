"""The task registry (job kind → handler) and the handler of ``train`` jobs.

A handler gets the job's :class:`~maestro_ml.jobs.context.JobContext`, does the work, and on
success records the outcome itself (so the outcome and "succeeded" commit together); it
signals failure by raising: ``RetryableError`` to retry with backoff, any other Maestro
error to fail for good, ``JobInterrupted`` when the context told it to stop.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from maestro_ml.domain.errors import InvalidInput
from maestro_ml.services.training import TRAIN, TrainingService

from .context import LOST, JobContext, JobInterrupted
from .training_runner import run_training_process

Handler = Callable[[JobContext], None]


class TaskRegistry:
    def __init__(self, handlers: Mapping[str, Handler]) -> None:
        self._handlers = dict(handlers)

    @property
    def kinds(self) -> list[str]:
        return sorted(self._handlers)

    def handler_for(self, kind: str) -> Handler:
        handler = self._handlers.get(kind)
        if handler is None:
            raise InvalidInput(
                f"no handler for job kind '{kind}'; this worker runs: {', '.join(self.kinds)}"
            )
        return handler


class TrainHandler:
    """Dataset to a local file, the training process, then the model version registered."""

    def __init__(self, training: TrainingService) -> None:
        self._training = training

    def __call__(self, ctx: JobContext) -> None:
        with tempfile.TemporaryDirectory(prefix=f"maestro-train-{ctx.job.id[:8]}-") as scratch:
            work = Path(scratch)
            ctx.progress(0.0, "Preparing the dataset")
            request = self._training.prepare(ctx.job, work)
            output = work / "model"
            result = run_training_process(request.spec, request.dataset_path, output, ctx)
            ctx.progress(1.0, "Registering the model version")
            ctx.flush()  # every log line lands before the job turns succeeded
            if self._training.complete_training(ctx.job, ctx.owner, output, result) is None:
                raise JobInterrupted(LOST)


def default_tasks(training: TrainingService) -> TaskRegistry:
    return TaskRegistry({TRAIN: TrainHandler(training)})
