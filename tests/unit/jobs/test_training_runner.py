"""The training runner with a real child process: crashes are retryable, and cancel or
timeout kill the child at once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from maestro_ml.domain.errors import RetryableError
from maestro_ml.jobs.context import CANCELLED, TIMEOUT, JobContext, JobInterrupted
from maestro_ml.jobs.training_runner import run_training_process
from maestro_ml.services.jobs import ClaimedJob

SPEC = {"target": "y", "estimator": "RandomForestClassifier",
        "hyperparameters": {"n_estimators": 100_000}}


def context(job: ClaimedJob, queue, timeout: float = 600) -> JobContext:
    return JobContext(job, "worker-1", queue, renew_every=2.0, timeout_seconds=timeout)


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "table.csv"
    path.write_text("x1,x2,y\n" + "".join(f"{i},{i % 7},{i % 2}\n" for i in range(200)))
    return path


def test_a_crash_is_retryable_and_names_the_exception(job, queue, tmp_path: Path):
    ctx = context(job, queue)

    with pytest.raises(RetryableError, match="crashed \\(exit code 1\\): FileNotFoundError"):
        run_training_process(SPEC, tmp_path / "vanished.csv", tmp_path / "model", ctx)


def test_cancel_kills_the_child_at_once(job, queue, table: Path, tmp_path: Path):
    ctx = context(job, queue)
    threading.Timer(0.3, ctx.request_stop, args=(CANCELLED,)).start()
    started = time.monotonic()

    with pytest.raises(JobInterrupted) as stopped:
        run_training_process(SPEC, table, tmp_path / "model", ctx)

    assert stopped.value.reason == CANCELLED
    assert time.monotonic() - started < 30  # 100 000 trees would take minutes
    assert not (tmp_path / "model").exists()


def test_running_past_the_time_limit_kills_the_child(job, queue, table: Path, tmp_path: Path):
    ctx = context(job, queue, timeout=0.5)

    with pytest.raises(JobInterrupted) as stopped:
        run_training_process(SPEC, table, tmp_path / "model", ctx)

    assert stopped.value.reason == TIMEOUT
