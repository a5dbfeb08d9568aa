"""The job context batches progress and logs into heartbeats and learns when to stop."""

from __future__ import annotations

import pytest

from maestro_ml.jobs.context import (
    CANCELLED,
    LOST,
    MAX_PENDING_LOGS,
    SHUTDOWN,
    TIMEOUT,
    JobContext,
)
from maestro_ml.services.jobs import ClaimedJob, JobSignal


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ctx(job: ClaimedJob, queue, clock: Clock) -> JobContext:
    return JobContext(job, "worker-1", queue, renew_every=2.0, timeout_seconds=60, clock=clock)


def test_many_lines_and_progress_updates_go_out_in_one_heartbeat(ctx: JobContext, queue):
    for number in range(50):
        ctx.log(f"line {number}")
    ctx.progress(0.2, "Fitting")
    ctx.progress(0.5, "Evaluating")

    ctx.flush()

    assert len(queue.calls) == 1
    assert queue.messages == [f"line {number}" for number in range(50)]
    assert queue.calls[0]["progress"] == (0.5, "Evaluating")
    assert queue.calls[0]["renew"] is False


def test_nothing_is_written_until_there_is_news_or_the_lease_is_due(
    ctx: JobContext, queue, clock: Clock
):
    ctx.flush()
    clock.now += 1.9
    ctx.flush()
    assert queue.calls == []

    clock.now += 0.2
    ctx.flush()

    assert [call["renew"] for call in queue.calls] == [True]


def test_a_crowd_of_log_lines_is_flushed_without_waiting_for_the_tick(ctx: JobContext, queue):
    for number in range(MAX_PENDING_LOGS):
        ctx.log(f"line {number}")

    assert len(queue.calls) == 1 and len(queue.messages) == MAX_PENDING_LOGS


def test_lines_survive_a_failed_heartbeat_and_keep_their_order(ctx: JobContext, queue):
    ctx.log("first")
    queue.failure = ConnectionError("database down")
    with pytest.raises(ConnectionError):
        ctx.flush()
    ctx.log("second")

    ctx.flush()

    assert queue.messages == ["first", "second"]


def test_a_lost_lease_or_a_cancel_request_tells_the_handler_to_stop(ctx: JobContext, queue):
    assert ctx.stop_reason is None
    queue.signal = JobSignal(owned=True, cancel_requested=True)

    ctx.flush(renew=True)

    assert ctx.stop_reason == CANCELLED and ctx.wait(0) is True
    queue.signal = JobSignal(owned=False)
    ctx.flush(renew=True)
    assert ctx.stop_reason == CANCELLED  # the first reason is the one that counts


def test_losing_the_lease_is_its_own_reason(ctx: JobContext, queue):
    queue.signal = JobSignal(owned=False)

    ctx.flush(renew=True)

    assert ctx.stop_reason == LOST


def test_the_deadline_turns_into_a_timeout(ctx: JobContext, clock: Clock):
    clock.now += 59
    assert ctx.stop_reason is None

    clock.now += 1

    assert ctx.stop_reason == TIMEOUT
    ctx.request_stop(SHUTDOWN)
    assert ctx.stop_reason == TIMEOUT
