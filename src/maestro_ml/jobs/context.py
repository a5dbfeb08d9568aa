"""A running job's link to the queue: progress, batched logs, the lease, and when to stop.

Handlers report through :class:`JobContext` and poll :attr:`JobContext.stop_reason`; a
:class:`Heartbeat` thread flushes what they reported (one transaction per tick, however many
log lines arrived) and renews the lease every few seconds. The heartbeat is also how a job
learns it must stop: cancellation requested, lease taken over by another worker, worker
shutting down, or time limit reached.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from maestro_ml.services.jobs import ClaimedJob, JobSignal, LogLine, utcnow

log = logging.getLogger("maestro_ml.jobs")

CANCELLED = "cancelled"
LOST = "lost"
SHUTDOWN = "shutdown"
TIMEOUT = "timeout"
# A chatty job is flushed as soon as this many lines wait, not only on the next tick.
MAX_PENDING_LOGS = 500


class JobInterrupted(Exception):
    """The job must stop now; ``reason`` is one of CANCELLED, LOST, SHUTDOWN, TIMEOUT."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class JobSync(Protocol):
    def sync(
        self, job: ClaimedJob, owner: str, *, renew: bool,
        progress: tuple[float, str | None] | None = None, logs: list[LogLine] = ...,
    ) -> JobSignal: ...


class JobContext:
    """What a handler sees of its job. Thread-safe: the handler reports, the heartbeat flushes."""

    def __init__(
        self, job: ClaimedJob, owner: str, queue: JobSync, *, renew_every: float,
        timeout_seconds: float, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.job = job
        self.owner = owner
        self.timeout_seconds = timeout_seconds
        self._queue = queue
        self._renew_every = renew_every
        self._clock = clock
        self._deadline = clock() + timeout_seconds
        self._last_renewal = clock()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._logs: list[LogLine] = []
        self._progress: tuple[float, str | None] | None = None
        self._stop = threading.Event()
        self._stop_reason: str | None = None

    # -- reporting ------------------------------------------------------------------------
    def progress(self, fraction: float, message: str | None = None) -> None:
        with self._lock:
            self._progress = (fraction, message)

    def log(self, message: str, level: str = "info") -> None:
        with self._lock:
            self._logs.append((utcnow(), level[:16], message))
            crowded = len(self._logs) >= MAX_PENDING_LOGS
        if crowded:
            self.flush()

    # -- stopping -------------------------------------------------------------------------
    @property
    def stop_reason(self) -> str | None:
        self.check_deadline()
        return self._stop_reason

    def check_deadline(self) -> None:
        if self._stop_reason is None and self._clock() >= self._deadline:
            self.request_stop(TIMEOUT)

    def request_stop(self, reason: str) -> None:
        with self._lock:
            if self._stop_reason is None:  # the first reason is the one that counts
                self._stop_reason = reason
        self._stop.set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True as soon as the job must stop."""
        return self._stop.wait(seconds) or self.stop_reason is not None

    # -- flushing -------------------------------------------------------------------------
    def flush(self, *, renew: bool = False) -> None:
        """Write pending progress and logs (and renew the lease when due) in one transaction."""
        with self._flush_lock:
            renew = renew or self._clock() - self._last_renewal >= self._renew_every
            with self._lock:
                logs, self._logs = self._logs, []
                progress, self._progress = self._progress, None
            if not (logs or progress or renew):
                return
            try:
                signal = self._queue.sync(
                    self.job, self.owner, renew=renew, progress=progress, logs=logs
                )
            except Exception:
                with self._lock:  # keep them for the next try, in order
                    self._logs[:0] = logs
                    self._progress = self._progress or progress
                raise
            if renew:
                self._last_renewal = self._clock()
        if not signal.owned:
            self.request_stop(LOST)
        elif signal.cancel_requested:
            self.request_stop(CANCELLED)


class Heartbeat:
    """A thread that flushes a job's context every ``interval`` seconds until stopped."""

    def __init__(self, context: JobContext, interval: float = 0.5) -> None:
        self._context = context
        self._interval = interval
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"heartbeat-{context.job.id[:8]}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._done.wait(self._interval):
            try:
                self._context.flush()
            except Exception:  # the database may be back next tick; the lease outlives a blip
                log.exception("heartbeat of job %s failed", self._context.job.id)
            self._context.check_deadline()
