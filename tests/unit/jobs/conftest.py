"""An in-memory stand-in for the job queue's heartbeat (``JobService.sync``)."""

from __future__ import annotations

from typing import Any

import pytest

from maestro_ml.services.jobs import ClaimedJob, JobSignal


class RecordingQueue:
    """Records every sync; answers with ``signal``, or raises ``failure`` once when set."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.signal = JobSignal(owned=True)
        self.failure: Exception | None = None

    def sync(self, job: ClaimedJob, owner: str, *, renew: bool,
             progress: tuple[float, str | None] | None = None, logs: Any = ()) -> JobSignal:
        if self.failure is not None:
            failure, self.failure = self.failure, None
            raise failure
        self.calls.append({"renew": renew, "progress": progress, "logs": list(logs)})
        return self.signal

    @property
    def messages(self) -> list[str]:
        return [line[2] for call in self.calls for line in call["logs"]]


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
def job() -> ClaimedJob:
    return ClaimedJob("job1", "tenant1", "train", {}, "run1", 1, 3, "user1")
