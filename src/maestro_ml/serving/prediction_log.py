"""The prediction log: every logged prediction's id, variant, outputs, latency and sampled inputs.

The predict path calls ``PredictionLog.record`` and moves on: it puts the record on a bounded
queue without waiting (a full queue drops the record and counts it) and a writer thread
writes what has queued in batches, one transaction per batch, at most ``flush_seconds``
after a record arrived. ``stop()`` writes everything still queued, so a clean shutdown loses
nothing. Memory is bounded by ``queue_size`` records.

Sampling: with ``sample_rate`` r a record is logged in full (inputs included) with
probability r. A record that must stay findable (``keep=True``, e.g. an A/B test whose
feedback arrives later by prediction id) is logged without its inputs when not sampled;
any other unsampled record is not logged at all.

The writer reaches the database through a unit of work factory (``system()``) whose
``predictions`` repository offers ``add_records(list[dict])`` and
``delete_created_before(datetime) -> int``; rows carry their own tenant id. Rows older than
``retention_days`` are deleted from the writer loop every ``retention_check_seconds``.

The predict path, once it has the output::

    prediction_log.record(
        PredictionRecord(
            id=prediction_id, tenant_id=route.tenant_id, deployment_id=route.deployment_id,
            variant=variant.name, model_version_id=variant.model_version_id,
            revision=route.revision, inputs=rows, latency_ms=elapsed_ms,
            outputs={"predictions": output.predictions, "probabilities": output.probabilities},
        ),
        sample_rate=revision_sample_rate, keep=is_ab_test,
    )
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from maestro_ml.ml.json_values import to_json_value

log = logging.getLogger("maestro_ml.serving.prediction_log")

_WAKE = object()


def new_prediction_id() -> str:
    """The id a prediction is returned and logged under: 128 random bits as 32 hex digits,
    the shape of every other id here. ``os.urandom`` directly costs a fraction of ``uuid4``,
    which matters once per request on the predict path."""
    return os.urandom(16).hex()


@dataclass(slots=True)
class PredictionRecord:
    """One prediction request as logged; ``inputs`` is None when not sampled."""

    id: str
    tenant_id: str
    deployment_id: str
    variant: str
    model_version_id: str | None
    outputs: dict[str, Any]
    latency_ms: float
    revision: int | None = None
    inputs: list[dict[str, Any]] | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_row(self, with_inputs: bool) -> dict[str, Any]:
        """The column values of this record (JSON-safe), as the repository inserts them."""
        outputs = to_json_value(self.outputs)
        return {
            "id": self.id, "tenant_id": self.tenant_id, "deployment_id": self.deployment_id,
            "revision": self.revision, "variant": self.variant,
            "model_version_id": self.model_version_id,
            "inputs": to_json_value(self.inputs) if with_inputs and self.inputs is not None
            else None,
            "outputs": outputs, "row_count": len(outputs.get("predictions") or []),
            "latency_ms": float(self.latency_ms), "created_at": self.created_at,
        }


class LogWriter(Protocol):
    """The unit of work factory, as far as the writer needs it."""

    def system(self, *, write: bool = True) -> Any: ...


class PredictionLog:
    """Sampled, batched, asynchronous writes of prediction records."""

    def __init__(
        self, uow: LogWriter, *, queue_size: int = 10_000, batch_size: int = 500,
        flush_seconds: float = 1.0, retention_days: int = 30,
        retention_check_seconds: float = 3600.0, seed: int | None = None,
    ) -> None:
        self._uow = uow
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, queue_size))
        self._batch_size = max(1, batch_size)
        self._flush_seconds = max(0.001, flush_seconds)
        self._retention = timedelta(days=retention_days) if retention_days > 0 else None
        self._retention_every = retention_check_seconds
        self._next_retention = time.monotonic()
        self._random = random.Random(seed)  # noqa: S311 - sampling, not security
        self._pending = 0
        self._done = threading.Condition()
        self._flush_now = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._counts = {
            "recorded": 0, "unsampled": 0, "dropped_queue_full": 0, "written": 0,
            "failed": 0, "deleted_by_retention": 0,
        }

    @classmethod
    def from_settings(cls, uow: LogWriter, settings: Any) -> PredictionLog:
        return cls(
            uow, queue_size=settings.prediction_log_queue_size,
            batch_size=settings.prediction_log_batch_size,
            flush_seconds=settings.prediction_log_flush_seconds,
            retention_days=settings.prediction_log_retention_days,
        )

    # -- the hot path -------------------------------------------------------------------

    def record(self, record: PredictionRecord, sample_rate: float, *, keep: bool = False) -> bool:
        """Queue ``record`` for writing; never blocks, never raises.

        Returns whether it was queued (sampled, or kept without inputs), so the caller knows
        whether the prediction id will be findable.
        """
        try:
            sampled = sample_rate >= 1.0 or (
                sample_rate > 0.0 and self._random.random() < sample_rate
            )
            if not sampled and not keep:
                with self._done:
                    self._counts["unsampled"] += 1
                return False
            with self._done:
                self._pending += 1
                self._counts["recorded"] += 1
            try:
                self._queue.put_nowait((record, sampled))
            except queue.Full:
                self._settle(1, "dropped_queue_full")
                return False
            return True
        except Exception:  # the predict path must never fail because of the log
            log.exception("prediction log: could not queue a record")
            return False

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._run, name="maestro-prediction-log", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Write everything queued, then stop the writer."""
        self._stopping.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._drain()  # whatever arrived while stopping, written from this thread

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued record is written (or failed); True when all were."""
        if self._thread is None or not self._thread.is_alive():
            self._drain()
            return self.pending == 0
        self._flush_now.set()
        self._wake()
        deadline = time.monotonic() + timeout
        with self._done:
            while self._pending > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._done.wait(remaining)
        return True

    @property
    def pending(self) -> int:
        """Records queued and not yet written."""
        with self._done:
            return self._pending

    def stats(self) -> dict[str, int]:
        """Counters since start: recorded (offered for writing), unsampled, dropped_queue_full,
        written, failed (lost to a database error), deleted_by_retention; and pending now.

        recorded = dropped_queue_full + written + failed + pending.
        """
        with self._done:
            return {**self._counts, "pending": self._pending}

    # -- the writer ---------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            batch = self._collect()
            if batch:
                self._write(batch)
            self._apply_retention()
            if self._stopping.is_set() and self._queue.empty():
                return

    def _collect(self) -> list[tuple[PredictionRecord, bool]]:
        batch: list[tuple[PredictionRecord, bool]] = []
        deadline = time.monotonic() + self._flush_seconds
        while len(batch) < self._batch_size:
            hurry = self._stopping.is_set() or self._flush_now.is_set()
            timeout = 0.0 if hurry else deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
            except queue.Empty:
                if hurry:
                    self._flush_now.clear()
                break
            if item is not _WAKE:
                batch.append(item)
            elif not batch and not self._stopping.is_set() and not self._flush_now.is_set():
                deadline = time.monotonic() + self._flush_seconds
        return batch

    def _drain(self) -> None:
        while True:
            batch: list[tuple[PredictionRecord, bool]] = []
            while len(batch) < self._batch_size:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not _WAKE:
                    batch.append(item)
            if not batch:
                return
            self._write(batch)

    def _write(self, batch: list[tuple[PredictionRecord, bool]]) -> None:
        try:
            rows = [record.as_row(sampled) for record, sampled in batch]
            with self._uow.system() as uow:
                uow.predictions.add_records(rows)
                uow.commit()
        except Exception:
            # A dead database must not grow memory without bound: the batch is counted lost.
            log.exception("prediction log: a batch of %d records could not be written", len(batch))
            self._settle(len(batch), "failed")
        else:
            self._settle(len(batch), "written")

    def _apply_retention(self) -> None:
        if self._retention is None or time.monotonic() < self._next_retention:
            return
        self._next_retention = time.monotonic() + self._retention_every
        try:
            with self._uow.system() as uow:
                deleted = uow.predictions.delete_created_before(datetime.now(UTC) - self._retention)
                uow.commit()
            with self._done:
                self._counts["deleted_by_retention"] += int(deleted or 0)
        except Exception:
            log.exception("prediction log: retention clean-up failed; will try again later")

    def _settle(self, count: int, outcome: str) -> None:
        with self._done:
            self._pending -= count
            self._counts[outcome] += count
            if self._pending <= 0:
                self._done.notify_all()

    def _wake(self) -> None:
        with contextlib.suppress(queue.Full):  # a full queue wakes the writer anyway
            self._queue.put_nowait(_WAKE)


class PredictionLogCollector:
    """The log's counters as Prometheus metrics, read at scrape.

    ``maestro_prediction_log_records_total{outcome}`` counts records by what became of them
    (written, failed, dropped_queue_full, unsampled); ``maestro_prediction_log_pending`` is
    what waits in the queue now. Under multiprocess serving a scrape shows the counters of
    the process that answers it.
    """

    def __init__(self, prediction_log: PredictionLog) -> None:
        self._log = prediction_log

    def collect(self) -> Any:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        stats = self._log.stats()
        records = CounterMetricFamily(
            "maestro_prediction_log_records", "Prediction log records by outcome",
            labels=["outcome"],
        )
        for outcome in ("written", "failed", "dropped_queue_full", "unsampled"):
            records.add_metric([outcome], stats[outcome])
        yield records
        yield GaugeMetricFamily(
            "maestro_prediction_log_pending", "Prediction log records waiting to be written",
            value=stats["pending"],
        )
