"""The worker loop with an in-memory queue: every way a handler ends maps to one outcome,
and the worker keeps taking jobs whatever happened to the previous one."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from maestro_ml.domain.errors import RetryableError, TrainingError
from maestro_ml.jobs.context import (
    CANCELLED,
    LOST,
    SHUTDOWN,
    TIMEOUT,
    JobContext,
    JobInterrupted,
)
from maestro_ml.jobs.tasks import TaskRegistry
from maestro_ml.jobs.worker import Worker
from maestro_ml.services.jobs import ClaimedJob, JobSignal


class MemoryQueue:
    """Hands out the given jobs once each and records what the worker reports."""

    lease = timedelta(seconds=30)

    def __init__(self, kinds: list[str], expected: int) -> None:
        self._waiting = [ClaimedJob(f"job-{i}", "t1", kind, {}, None, 1, 3, None)
                         for i, kind in enumerate(kinds)]
        self.outcomes: dict[str, tuple[Any, ...]] = {}
        self.settled = threading.Event()
        self._expected = expected
        self._lock = threading.Lock()

    def claim_next(self, owner: str) -> ClaimedJob | None:
        with self._lock:
            return self._waiting.pop(0) if self._waiting else None

    def reclaim_expired(self) -> int:
        return 0

    def sync(self, job: ClaimedJob, owner: str, **_: Any) -> JobSignal:
        return JobSignal(owned=True)

    def _record(self, job: ClaimedJob, *outcome: Any) -> Any:
        with self._lock:
            self.outcomes[job.kind] = outcome
            if len(self.outcomes) == self._expected:
                self.settled.set()
        return True

    def fail(self, job: ClaimedJob, owner: str, message: str, code: str, *,
             retryable: bool) -> str:
        self._record(job, "fail", code, retryable, message)
        return "queued" if retryable else "failed"

    def mark_cancelled(self, job: ClaimedJob, owner: str) -> bool:
        return self._record(job, "cancelled")

    def release(self, job: ClaimedJob, owner: str) -> bool:
        return self._record(job, "released")


def raising(error: Exception):
    def handler(ctx: JobContext) -> None:
        raise error
    return handler


def test_each_ending_of_a_job_is_recorded_once_and_the_worker_carries_on():
    handlers = {
        "lost": raising(JobInterrupted(LOST)),  # first: settled long before the last one
        "retryable": raising(RetryableError("the training process crashed (exit code 1)")),
        "user_error": raising(TrainingError("unknown estimator 'Nope'")),
        "cancelled": raising(JobInterrupted(CANCELLED)),
        "shutdown": raising(JobInterrupted(SHUTDOWN)),
        "timeout": raising(JobInterrupted(TIMEOUT)),
        "bug": raising(KeyError("spec")),
    }
    # Outcomes expected: every kind but "lost", plus "unknown".
    queue = MemoryQueue([*handlers, "unknown"], expected=len(handlers))
    worker = Worker(queue, TaskRegistry(handlers), poll_seconds=0.01,  # type: ignore[arg-type]
                    timeout_seconds=7)

    worker.start()
    finished = queue.settled.wait(10)
    worker.stop()

    assert finished, queue.outcomes
    outcomes = queue.outcomes
    assert "lost" not in outcomes  # another worker holds it now: nothing is written
    assert outcomes["retryable"][:3] == ("fail", "retryable", True)
    assert outcomes["user_error"][:3] == ("fail", "training_error", False)
    assert outcomes["cancelled"] == ("cancelled",)
    assert outcomes["shutdown"] == ("released",)
    assert outcomes["timeout"][:3] == ("fail", "timeout", False)
    assert "time limit of 7 s" in outcomes["timeout"][3]
    assert outcomes["bug"][:3] == ("fail", "internal", False)
    assert outcomes["unknown"][:3] == ("fail", "invalid_input", False)
    assert "no handler for job kind 'unknown'" in outcomes["unknown"][3]
    assert worker.running_jobs == []
