"""The background flusher: in-memory SLO counters -> minute buckets in the database.

Every ``interval`` seconds (and once more on shutdown) it drains the recorder, resolves the
deployment names callers used to ids within their tenant, and adds the counts to this
process's rows. A failed flush puts the counts back, so a database outage delays records
without losing them. Once a minute it refreshes the recorder's per-deployment latency
thresholds and deletes buckets older than the SLO window (retention).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable

from maestro_ml.observability.slo_recorder import API, Drained, MinuteCounts, SloRecorder

from .ports import UnitOfWorkFactory

log = logging.getLogger("maestro_ml.slo")

MAINTENANCE_SECONDS = 60.0


class SloFlusher:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        recorder: SloRecorder,
        *,
        interval_seconds: float,
        retention_days: int,
        thresholds: Callable[[], dict[tuple[str, str], float]],
    ) -> None:
        self._uow = uow
        self.recorder = recorder
        self.interval_seconds = interval_seconds
        self.retention_minutes = retention_days * 24 * 60
        self._thresholds = thresholds
        self.source = uuid.uuid4().hex  # this process's own rows: replicas never contend
        self._stop = threading.Event()
        # One flush at a time: the loop's and an explicit one must not both insert a row.
        self._flushing = threading.Lock()
        self._thread: threading.Thread | None = None
        self._last_maintenance = float("-inf")

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="slo-flusher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=10)
            self._thread = None
        try:
            self.flush()  # what the last interval counted
        except Exception:  # shutting down: report, do not mask the shutdown's own errors
            log.warning("SLO records of the last seconds could not be written", exc_info=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            try:
                self.flush()
                if time.monotonic() - self._last_maintenance >= MAINTENANCE_SECONDS:
                    self.maintain()
            except Exception:  # the loop must outlive a bad flush; the counts were restored
                log.warning("SLO records could not be written; will retry", exc_info=True)

    def flush(self) -> None:
        """Write everything counted so far; a part that fails goes back to the recorder."""
        failure: Exception | None = None
        with self._flushing:
            for tenant_id, part in _by_tenant(self.recorder.drain()).items():
                try:
                    self._write(tenant_id, part)
                except Exception as exc:
                    self.recorder.restore(part)
                    failure = exc
        if failure is not None:
            raise failure

    def maintain(self) -> None:
        """Refresh latency thresholds and delete buckets past retention."""
        self._last_maintenance = time.monotonic()
        self.refresh_thresholds()
        oldest = int(self.recorder.clock() // 60) - self.retention_minutes
        with self._uow.system() as uow:
            uow.slos.delete_before(oldest)
            uow.commit()

    def refresh_thresholds(self) -> None:
        """Load the deployments' latency thresholds into the recorder."""
        self.recorder.set_thresholds(self._thresholds())

    def _write(self, tenant_id: str | None, part: Drained) -> None:
        """One transaction: the API's buckets (tenant None) or one tenant's deployments'."""
        if tenant_id is None:
            with self._uow.system() as uow:
                for (_, minute), counts in part.items():
                    uow.slos.add_api(self.source, minute, _sums(counts))
                uow.commit()
            return
        merged: dict[tuple[str, int], MinuteCounts] = defaultdict(MinuteCounts)
        with self._uow.for_tenant(tenant_id) as uow:
            ids: dict[str, str | None] = {}
            for (target, minute), counts in part.items():
                ident = target[1]
                if ident not in ids:
                    row = uow.deployments.find_by_id_or_name(ident)
                    ids[ident] = row.id if row is not None else None
                deployment_id = ids[ident]
                if deployment_id is not None:  # a name that matched nothing was a 404
                    merged[(deployment_id, minute)].add(counts)
            for (deployment_id, minute), counts in merged.items():
                uow.slos.add_deployment(deployment_id, self.source, minute, _sums(counts))
            uow.commit()


def _by_tenant(drained: Drained) -> dict[str | None, Drained]:
    parts: dict[str | None, Drained] = defaultdict(dict)
    for key, counts in drained.items():
        target = key[0]
        parts[None if target == API else target[0]][key] = counts
    return parts


def _sums(counts: MinuteCounts) -> tuple[int, int, int]:
    return counts.total, counts.bad, counts.slow
