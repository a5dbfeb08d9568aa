"""The job worker: a thread that polls the durable queue and runs each job in its own thread.

Runs inside the API process (``settings.run_worker``) or alone (``maestro worker``), as many
as you like against one database: claims are atomic, leases say who holds a job, and a job
whose worker died is reclaimed by any other worker once its lease runs out. Heavy work
happens in child processes (see ``training_runner``), so a crashing trainer never takes the
worker down.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from typing import Protocol

from maestro_ml.config import Settings
from maestro_ml.domain.errors import MaestroError, Unavailable
from maestro_ml.observability import logging as log_context
from maestro_ml.observability.metrics import observe_training
from maestro_ml.observability.tracing import continue_trace
from maestro_ml.services.jobs import TRACEPARENT_KEY, ClaimedJob, JobService
from maestro_ml.services.training import TRAIN, TrainingService

from .context import CANCELLED, LOST, SHUTDOWN, TIMEOUT, Heartbeat, JobContext, JobInterrupted
from .tasks import TaskRegistry, default_tasks

log = logging.getLogger("maestro_ml.jobs")

HEARTBEAT_TICK_SECONDS = 0.5
# Renewing more often than the lease needs is what bounds how long a cancel takes to act.
MAX_RENEW_SECONDS = 2.0
RECLAIM_EVERY_SECONDS = 1.0


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """``start()`` begins polling, ``stop()`` hands running jobs back and waits for threads."""

    def __init__(
        self, jobs: JobService, tasks: TaskRegistry, *, concurrency: int = 1,
        poll_seconds: float = 0.5, timeout_seconds: float = 3600,
        worker_id: str | None = None,
    ) -> None:
        self.worker_id = worker_id or default_worker_id()
        self._jobs = jobs
        self._tasks = tasks
        self._concurrency = max(1, concurrency)
        self._poll = poll_seconds
        self._timeout = timeout_seconds
        self._renew_every = min(MAX_RENEW_SECONDS, jobs.lease.total_seconds() / 3)
        self._lock = threading.Lock()
        self._starts = 0
        self._stopping = threading.Event()
        self._poller: threading.Thread | None = None
        self._running: dict[str, tuple[threading.Thread, JobContext]] = {}
        self._next_reclaim = 0.0

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        # Counted, so an app started twice over one container keeps its worker until the
        # last one stops.
        with self._lock:
            self._starts += 1
            if self._poller is not None:
                return
            self._stopping.clear()
            self._poller = threading.Thread(target=self._poll_loop, name="maestro-worker",
                                            daemon=True)
            self._poller.start()
        log.info("job worker %s started (%d slot(s))", self.worker_id, self._concurrency)

    def stop(self, timeout: float = 30.0) -> None:
        with self._lock:
            self._starts = max(0, self._starts - 1)
            if self._poller is None or self._starts:
                return
            poller, self._poller = self._poller, None
        self._stopping.set()
        poller.join(timeout)
        with self._lock:
            running = list(self._running.values())
        for _, ctx in running:
            ctx.request_stop(SHUTDOWN)
        for thread, _ in running:
            thread.join(timeout)
        log.info("job worker %s stopped", self.worker_id)

    @property
    def running_jobs(self) -> list[str]:
        with self._lock:
            return list(self._running)

    # -- polling --------------------------------------------------------------------------
    def _poll_loop(self) -> None:
        while not self._stopping.is_set():
            claimed = None
            try:
                self._reclaim_when_due()
                if len(self.running_jobs) < self._concurrency:
                    claimed = self._jobs.claim_next(self.worker_id)
            except Exception:  # the database may be back on the next poll
                log.exception("job worker %s: polling failed", self.worker_id)
            if claimed is not None:
                self._launch(claimed)
                continue
            self._stopping.wait(self._poll)

    def _reclaim_when_due(self) -> None:
        clock = time.monotonic()
        if clock >= self._next_reclaim:
            self._next_reclaim = clock + RECLAIM_EVERY_SECONDS
            self._jobs.reclaim_expired()

    def _launch(self, job: ClaimedJob) -> None:
        ctx = JobContext(job, self.worker_id, self._jobs, renew_every=self._renew_every,
                         timeout_seconds=self._timeout)
        thread = threading.Thread(target=self._execute, args=(ctx,),
                                  name=f"job-{job.kind}-{job.id[:8]}", daemon=True)
        with self._lock:
            self._running[job.id] = (thread, ctx)
        thread.start()

    # -- one job --------------------------------------------------------------------------
    def _execute(self, ctx: JobContext) -> None:
        job = ctx.job
        # The job's spans and log lines join the trace of the request that queued it.
        log_token = log_context.bind_context({"job_id": job.id, "tenant": job.tenant_id})
        try:
            with continue_trace(job.payload.get(TRACEPARENT_KEY), f"job {job.kind}",
                                {"maestro.job.id": job.id, "maestro.job.kind": job.kind}):
                self._execute_traced(ctx)
        finally:
            log_context.reset_context(log_token)

    def _execute_traced(self, ctx: JobContext) -> None:
        job = ctx.job
        log.info("job %s (%s) attempt %d started", job.id, job.kind, job.attempts)
        heartbeat = Heartbeat(ctx, HEARTBEAT_TICK_SECONDS)
        heartbeat.start()
        started = time.monotonic()
        try:
            error = self._call_handler(ctx)
        finally:
            heartbeat.stop()
        if job.kind == TRAIN:
            _observe_training(time.monotonic() - started, error)
        try:
            self._settle(ctx, error)
        except Exception:  # its lease will run out and another poll will reclaim it
            log.exception("job %s: recording its outcome failed", job.id)
        finally:
            with self._lock:
                self._running.pop(job.id, None)

    def _call_handler(self, ctx: JobContext) -> Exception | None:
        try:
            self._tasks.handler_for(ctx.job.kind)(ctx)
        except Exception as exc:
            return exc
        return None

    def _settle(self, ctx: JobContext, error: Exception | None) -> None:
        job, owner = ctx.job, self.worker_id
        try:
            ctx.flush()  # log lines still pending go in before the outcome
        except Exception:
            log.exception("job %s: flushing its logs failed", job.id)
        if error is None:
            log.info("job %s succeeded", job.id)
        elif isinstance(error, JobInterrupted):
            self._settle_interrupted(job, error.reason)
        elif isinstance(error, Unavailable):  # RetryableError among them
            status = self._jobs.fail(job, owner, error.detail, error.code, retryable=True)
            log.warning("job %s attempt %d failed (%s): %s", job.id, job.attempts, status,
                        error.detail)
        elif isinstance(error, MaestroError):
            self._jobs.fail(job, owner, error.detail, error.code, retryable=False)
            log.info("job %s failed: %s", job.id, error.detail)
        else:
            log.error("job %s crashed in the worker", job.id, exc_info=error)
            message = f"internal error in the worker: {type(error).__name__}: {error}"
            self._jobs.fail(job, owner, message, "internal", retryable=False)

    def _settle_interrupted(self, job: ClaimedJob, reason: str) -> None:
        owner = self.worker_id
        if reason == CANCELLED:
            self._jobs.mark_cancelled(job, owner)
        elif reason == SHUTDOWN:
            self._jobs.release(job, owner)
        elif reason == TIMEOUT:
            message = (f"the job ran longer than its time limit of {self._timeout:g} s and was "
                       "stopped; raise job_timeout_seconds or train on less data")
            self._jobs.fail(job, owner, message, "timeout", retryable=False)
        elif reason == LOST:
            log.warning("job %s: lease taken over by another worker; result discarded", job.id)


def _observe_training(seconds: float, error: Exception | None) -> None:
    if error is None:
        observe_training(seconds, "succeeded")
    elif not isinstance(error, JobInterrupted):
        observe_training(seconds, "failed")
    elif error.reason == CANCELLED:
        observe_training(seconds, "cancelled")


class WorkerWiring(Protocol):
    """What a worker takes from the container (``bootstrap.Container`` has it all)."""

    settings: Settings
    jobs: JobService
    training: TrainingService


def build_worker(container: WorkerWiring) -> Worker:
    """The worker for this process, running the default tasks against the container."""
    settings = container.settings
    return Worker(
        container.jobs, default_tasks(container.training),
        concurrency=settings.worker_concurrency, poll_seconds=settings.worker_poll_seconds,
        timeout_seconds=settings.job_timeout_seconds,
    )
