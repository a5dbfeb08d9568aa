"""Shadow traffic: a copy of a request goes to shadow variants after the answer is computed.

``ShadowRunner.submit`` only puts a job on a bounded queue (a full queue drops the job and
counts it), so the request being answered is never delayed nor changed, whatever the shadow
model does. One worker thread runs the shadow model, compares its answer with the primary's
— same label for classifiers, ``|a - b| <= tolerance`` for numbers — and records the
agreement rate and the latency difference per shadow variant.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from maestro_ml.ml.model_io import PredictionOutput
from maestro_ml.observability.metrics import observe_shadow

log = logging.getLogger("maestro_ml.shadow")

DEFAULT_QUEUE_SIZE = 1000
DEFAULT_TOLERANCE = 1e-6


@dataclass(frozen=True)
class ShadowJob:
    tenant_id: str
    deployment_id: str
    deployment_name: str
    variant: str
    run: Callable[[list[dict[str, Any]]], PredictionOutput]
    """Validates the rows for the shadow's version and calls its model."""
    rows: list[dict[str, Any]]
    primary: PredictionOutput
    primary_seconds: float
    tolerance: float = DEFAULT_TOLERANCE


@dataclass
class ShadowTally:
    requests: int = 0
    errors: int = 0
    rows: int = 0
    agreed_rows: int = 0
    latency_delta_ms_sum: float = 0.0

    def as_dict(self, variant: str) -> dict[str, Any]:
        compared = self.requests - self.errors
        return {
            "variant": variant, "requests": self.requests, "errors": self.errors,
            "rows": self.rows,
            "agreement_rate": self.agreed_rows / self.rows if self.rows else None,
            "mean_latency_delta_ms": self.latency_delta_ms_sum / compared if compared else None,
        }


def agreeing_rows(primary: list[Any], shadow: list[Any], tolerance: float) -> int:
    """How many rows got the same answer (labels equal, numbers within ``tolerance``)."""
    agreed = 0
    for a, b in zip(primary, shadow, strict=False):
        if isinstance(a, int | float) and isinstance(b, int | float) and not (
            isinstance(a, bool) or isinstance(b, bool)
        ):
            agreed += abs(float(a) - float(b)) <= tolerance
        else:
            agreed += a == b
    return agreed


class ShadowRunner:
    """A bounded queue and one daemon worker; started lazily, stopped with the container."""

    def __init__(self, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self._queue: queue.Queue[ShadowJob | None] = queue.Queue(maxsize=queue_size)
        self._tallies: dict[tuple[str, str, str], ShadowTally] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.dropped = 0

    def submit(self, job: ShadowJob) -> bool:
        """Queue a comparison; False (and counted) when the queue is full. Never blocks."""
        if self._thread is None:
            self.start()
        try:
            self._queue.put_nowait(job)
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def tallies(self, tenant_id: str, deployment_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [
                tally.as_dict(key[2]) for key, tally in sorted(self._tallies.items())
                if key[0] == tenant_id and key[1] == deployment_id
            ]

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Whether every queued job was processed within ``timeout`` (for tests and shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._work, name="shadow", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        thread = self._thread
        if thread is None:
            return
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=1.0)
        thread.join(timeout=5.0)
        self._thread = None

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                self._compare(job)
            except Exception:  # a shadow must never take the worker down
                log.exception("shadow comparison failed")
            finally:
                self._queue.task_done()

    def _compare(self, job: ShadowJob) -> None:
        key = (job.tenant_id, job.deployment_id, job.variant)
        started = time.perf_counter()
        try:
            output = job.run(job.rows)
        except Exception as exc:
            log.debug("shadow %s of %s failed: %s", job.variant, job.deployment_name, exc)
            with self._lock:
                tally = self._tallies.setdefault(key, ShadowTally())
                tally.requests += 1
                tally.errors += 1
            return
        seconds = time.perf_counter() - started
        agreed = agreeing_rows(job.primary.predictions, output.predictions, job.tolerance)
        rows = len(job.primary.predictions)
        delta = seconds - job.primary_seconds
        with self._lock:
            tally = self._tallies.setdefault(key, ShadowTally())
            tally.requests += 1
            tally.rows += rows
            tally.agreed_rows += agreed
            tally.latency_delta_ms_sum += delta * 1000.0
        observe_shadow(job.deployment_name, job.variant, agreed == rows, delta)
