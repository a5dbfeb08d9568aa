"""Durable jobs: enqueue, list/inspect/cancel for users, and the worker's side of the queue.

The worker claims with the system unit of work (the queue spans tenants) and does
everything else for a job in that job's tenant. Every worker write is guarded by the lease:
a conditional update that only applies while the job is ``running`` and held by this worker,
so a worker whose lease was taken over can neither finish nor fail the job (nothing is done
twice), and a job whose worker died is requeued by :meth:`JobService.reclaim_expired`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from maestro_ml.auth.principal import Principal
from maestro_ml.domain import jobs as states
from maestro_ml.domain import tracking as runs
from maestro_ml.domain.errors import Conflict
from maestro_ml.observability.tracing import current_traceparent

from .ports import UnitOfWorkFactory

log = logging.getLogger("maestro_ml.jobs")

MAX_ERROR_CHARS = 4000
# Payload key of the W3C traceparent of the request that queued the job.
TRACEPARENT_KEY = "_traceparent"

LogLine = tuple[datetime, str, str]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ClaimedJob:
    """What a worker holds of a job it claimed; ``attempts`` counts this attempt."""

    id: str
    tenant_id: str
    kind: str
    payload: dict[str, Any]
    run_id: str | None
    attempts: int
    max_attempts: int
    created_by: str | None

    @classmethod
    def of(cls, row: Any) -> ClaimedJob:
        return cls(row.id, row.tenant_id, row.kind, dict(row.payload or {}), row.run_id,
                   row.attempts, row.max_attempts, row.created_by)


@dataclass(frozen=True)
class JobSignal:
    """What a heartbeat learnt: is the job still ours, and did someone ask to cancel it."""

    owned: bool
    cancel_requested: bool = False


def add_job(
    uow: Any, *, kind: str, payload: dict[str, Any], created_by: str | None,
    run_id: str | None = None, job_id: str | None = None,
    max_attempts: int = states.DEFAULT_MAX_ATTEMPTS,
) -> Any:
    """Queue a job inside the caller's transaction (so it exists iff the caller commits)."""
    fields: dict[str, Any] = {"id": job_id} if job_id else {}
    traceparent = current_traceparent()  # the worker continues the enqueuing request's trace
    if traceparent is not None:
        payload = {**payload, TRACEPARENT_KEY: traceparent}
    return uow.jobs.create(
        **fields, kind=kind, status=states.QUEUED, payload=payload, run_id=run_id,
        created_by=created_by, max_attempts=max_attempts,
    )


def mark_succeeded(
    uow: Any, job: ClaimedJob, owner: str, result: dict[str, Any], now: datetime
) -> bool:
    """Within the caller's transaction: the job succeeded, if it is still this worker's."""
    return bool(uow.jobs.transition(
        job.id, from_status=(states.RUNNING,), owner=owner,
        status=states.SUCCEEDED, result=result, progress=1.0, progress_message="Succeeded",
        finished_at=now, lease_expires_at=None, error=None, error_code=None,
    ))


def set_run_status(uow: Any, run_id: str | None, status: str, *, ended: bool = False) -> None:
    run = uow.runs.find(run_id) if run_id else None
    if run is None:
        return
    run.status = status
    if status == runs.RUNNING:
        run.start_time, run.end_time = runs.now_ms(), None
    elif ended:
        run.end_time = runs.now_ms()


class JobService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        lease_seconds: float,
        *,
        clock: Callable[[], datetime] = utcnow,
        retry_delay: Callable[[int], float] = states.retry_delay,
    ) -> None:
        self._uow = uow
        self.lease = timedelta(seconds=lease_seconds)
        self._now = clock
        self._retry_delay = retry_delay

    # -- users ----------------------------------------------------------------------------
    def enqueue(
        self, principal: Principal, kind: str, payload: dict[str, Any],
        run_id: str | None = None,
    ) -> Any:
        """Queue a job of ``kind`` for the caller's tenant.

        >>> jobs.enqueue(principal, "train", {...}).status  # doctest: +SKIP
        'queued'
        """
        with self._uow.for_tenant(principal.tenant_id) as uow:
            job = add_job(uow, kind=kind, payload=payload, created_by=principal.user_id,
                          run_id=run_id)
            uow.commit()
            return job

    def list_jobs(
        self, principal: Principal, *, limit: int, cursor: str | None = None,
        status: str | None = None, kind: str | None = None,
    ) -> Any:
        if status is not None:
            states.validate_status(status)
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            return uow.jobs.search(limit=limit, cursor=cursor, status=status, kind=kind)

    def get_job(self, principal: Principal, job_id: str) -> Any:
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            return uow.jobs.get(job_id)

    def list_logs(
        self, principal: Principal, job_id: str, *, limit: int, cursor: str | None = None
    ) -> Any:
        """A job's log lines, oldest first."""
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            uow.jobs.get(job_id)  # the tenant-scoped parent: another tenant's job is a 404
            return uow.jobs.logs(job_id, limit=limit, cursor=cursor)

    def cancel_job(self, principal: Principal, job_id: str) -> Any:
        """Cancel a queued job at once; ask the worker to stop a running one.

        A running job turns ``cancelled`` when its worker next renews the lease (seconds).
        """
        now = self._now()
        with self._uow.for_tenant(principal.tenant_id) as uow:
            job = uow.jobs.get(job_id)
            if job.status == states.CANCELLED:
                return job
            if job.status in states.TERMINAL:
                raise Conflict(
                    f"job '{job_id}' already {job.status}; only queued or running jobs "
                    "can be cancelled"
                )
            if uow.jobs.transition(
                job_id, from_status=(states.QUEUED,), status=states.CANCELLED,
                cancel_requested=True, finished_at=now, progress_message="Cancelled",
            ):
                set_run_status(uow, job.run_id, runs.KILLED, ended=True)
                message = f"Cancelled by {principal.email} before it started"
            # A worker holds it (or has just claimed it): it stops the job on its next heartbeat.
            elif uow.jobs.transition(
                job_id, from_status=(states.RUNNING,), cancel_requested=True
            ):
                message = f"Cancellation requested by {principal.email}"
            else:  # it ended in the meantime
                return self.get_job(principal, job_id)
            uow.jobs.append_logs(job_id, [(now, "warning", message)])
            uow.commit()
        return self.get_job(principal, job_id)

    # -- the worker -----------------------------------------------------------------------
    def claim_next(self, owner: str) -> ClaimedJob | None:
        """Claim the oldest due job of any tenant for ``owner``; its run starts RUNNING."""
        now = self._now()
        with self._uow.system(write=False) as uow:
            if not uow.jobs.has_claimable(now):
                return None
        with self._uow.system() as uow:
            row = uow.jobs.claim_next(owner, now, now + self.lease)
            if row is None:
                return None
            claimed = ClaimedJob.of(row)
            uow.commit()
        try:
            with self._uow.for_tenant(claimed.tenant_id) as uow:
                set_run_status(uow, claimed.run_id, runs.RUNNING)
                uow.jobs.append_logs(claimed.id, [(now, "info", (
                    f"Attempt {claimed.attempts} of {claimed.max_attempts} started on {owner}"
                ))])
                uow.commit()
        except Exception:  # the job is ours now: run it rather than strand it until its lease ends
            log.exception("job %s: marking its run RUNNING failed", claimed.id)
        return claimed

    def sync(
        self, job: ClaimedJob, owner: str, *, renew: bool,
        progress: tuple[float, str | None] | None = None, logs: Sequence[LogLine] = (),
    ) -> JobSignal:
        """One heartbeat: renew the lease, record progress and log lines, read cancel."""
        now = self._now()
        values: dict[str, Any] = {}
        if renew:
            values["lease_expires_at"] = now + self.lease
        if progress is not None:
            values["progress"] = min(1.0, max(0.0, float(progress[0])))
            values["progress_message"] = progress[1]
        with self._uow.for_tenant(job.tenant_id) as uow:
            if not uow.jobs.transition(
                job.id, from_status=(states.RUNNING,), owner=owner, **values
            ):
                return JobSignal(owned=False)
            uow.jobs.append_logs(job.id, logs)
            cancel = bool(uow.jobs.get(job.id).cancel_requested)
            uow.commit()
        return JobSignal(owned=True, cancel_requested=cancel)

    def succeed(self, job: ClaimedJob, owner: str, result: dict[str, Any]) -> bool:
        """Finish a job whose work needs no other write; False when it is no longer ours."""
        with self._uow.for_tenant(job.tenant_id) as uow:
            if not mark_succeeded(uow, job, owner, result, self._now()):
                return False
            set_run_status(uow, job.run_id, runs.FINISHED, ended=True)
            uow.commit()
        return True

    def fail(
        self, job: ClaimedJob, owner: str, message: str, code: str, *, retryable: bool
    ) -> str | None:
        """Record a failed attempt: requeue with backoff when retryable and attempts remain,
        else fail for good. Returns the job's new status, or None when it is not ours."""
        now = self._now()
        message = message[:MAX_ERROR_CHARS]
        retry = retryable and job.attempts < job.max_attempts
        with self._uow.for_tenant(job.tenant_id) as uow:
            if retry:
                delay = self._retry_delay(job.attempts)
                status, run_status = states.QUEUED, runs.SCHEDULED
                note = (f"Attempt {job.attempts} of {job.max_attempts} failed; "
                        f"retrying in {delay:.1f} s")
                changes: dict[str, Any] = {
                    "lease_owner": None, "not_before": now + timedelta(seconds=delay),
                    "progress": 0.0, "progress_message": note,
                }
            else:
                status, run_status = states.FAILED, runs.FAILED
                note = f"Failed after {job.attempts} attempt(s)"
                changes = {"finished_at": now, "progress_message": note}
            if not uow.jobs.transition(
                job.id, from_status=(states.RUNNING,), owner=owner, status=status,
                error=message, error_code=code, lease_expires_at=None, **changes,
            ):
                return None
            set_run_status(uow, job.run_id, run_status, ended=not retry)
            uow.jobs.append_logs(job.id, [(now, "error", message), (now, "info", note)])
            uow.commit()
        return status

    def mark_cancelled(self, job: ClaimedJob, owner: str) -> bool:
        """The worker stopped a job whose cancellation was requested."""
        now = self._now()
        with self._uow.for_tenant(job.tenant_id) as uow:
            if not uow.jobs.transition(
                job.id, from_status=(states.RUNNING,), owner=owner, status=states.CANCELLED,
                finished_at=now, lease_expires_at=None, progress_message="Cancelled",
            ):
                return False
            set_run_status(uow, job.run_id, runs.KILLED, ended=True)
            uow.jobs.append_logs(job.id, [(now, "warning", "Cancelled: the work was stopped")])
            uow.commit()
        return True

    def release(self, job: ClaimedJob, owner: str) -> bool:
        """Give a job back to the queue because this worker is shutting down.

        The interrupted attempt is not counted: the job did nothing wrong.
        """
        now = self._now()
        with self._uow.for_tenant(job.tenant_id) as uow:
            if not uow.jobs.transition(
                job.id, from_status=(states.RUNNING,), owner=owner, status=states.QUEUED,
                attempts=max(0, job.attempts - 1), lease_owner=None, lease_expires_at=None,
                progress=0.0, progress_message="Requeued: its worker shut down",
            ):
                return False
            set_run_status(uow, job.run_id, runs.SCHEDULED)
            uow.jobs.append_logs(job.id, [(now, "warning", "Worker shutting down; requeued")])
            uow.commit()
        return True

    def reclaim_expired(self) -> int:
        """Requeue (or fail, when no attempt is left) running jobs whose worker died."""
        now = self._now()
        with self._uow.system(write=False) as uow:
            expired = uow.jobs.expired_leases(now)
        return sum(self._reclaim(job_id, tenant_id, now) for job_id, tenant_id in expired)

    def _reclaim(self, job_id: str, tenant_id: str, now: datetime) -> bool:
        with self._uow.for_tenant(tenant_id) as uow:
            job = uow.jobs.find(job_id)
            if job is None:
                return False
            if job.cancel_requested:
                status, run_status, message = states.CANCELLED, runs.KILLED, (
                    "Cancelled: its worker stopped responding after cancellation was requested"
                )
                changes: dict[str, Any] = {"finished_at": now}
            elif job.attempts >= job.max_attempts:
                status, run_status, message = states.FAILED, runs.FAILED, (
                    f"The worker running attempt {job.attempts} of {job.max_attempts} stopped "
                    "renewing its lease (it died or lost the database); no attempts remain"
                )
                changes = {"finished_at": now, "error": message, "error_code": "lease_expired"}
            else:
                status, run_status, message = states.QUEUED, runs.SCHEDULED, (
                    f"The worker running attempt {job.attempts} stopped renewing its lease; "
                    "requeued"
                )
                changes = {"lease_owner": None, "progress": 0.0}
            if not uow.jobs.transition(
                job_id, from_status=(states.RUNNING,), owner=job.lease_owner,
                lease_expired_before=now, status=status, lease_expires_at=None,
                progress_message=message, **changes,
            ):
                return False
            set_run_status(uow, job.run_id, run_status, ended=status != states.QUEUED)
            uow.jobs.append_logs(job_id, [(now, "warning", message)])
            uow.commit()
        log.warning("job %s: %s", job_id, message)
        return True
