"""``client.jobs``: background jobs (training ...) — status, logs, cancel, and waiting."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..errors import TrainingError, WaitTimeout, client_error
from ..models import Job, JobLog
from ..progress import job_progress
from .base import Resource, segment

if TYPE_CHECKING:
    from ..models import Run


class Jobs(Resource):
    """``client.jobs``: read, follow, wait for and cancel background jobs."""

    def get(self, job_id: str) -> Job:
        """One job: status, progress (0..1), progress message, error, result.

        >>> client.jobs.get(exp.job_id).status
        'running'
        """
        return self._one(Job, self._transport.json("GET", f"/api/v1/jobs/{segment(job_id)}"))

    def list(
        self, status: str | None = None, kind: str | None = None, max_results: int | None = None
    ) -> Iterator[Job]:
        """Jobs, newest first, lazily; filter by ``status`` and ``kind``.

        >>> [j.id for j in client.jobs.list(status="running")]
        """
        params = {"status": status, "kind": kind}
        return self._each(Job, "/api/v1/jobs", params, max_results=max_results)

    def logs(self, job_id: str, max_results: int | None = None) -> Iterator[JobLog]:
        """A job's log lines, oldest first, lazily.

        >>> for line in client.jobs.logs(job.id): print(line.message)
        """
        path = f"/api/v1/jobs/{segment(job_id)}/logs"
        return self._each(JobLog, path, max_results=max_results)

    def cancel(self, job_id: str) -> Job:
        """Ask a queued or running job to stop; returns the job as it is now.

        >>> client.jobs.cancel(job.id).status
        'cancelled'
        """
        data = self._transport.json("POST", f"/api/v1/jobs/{segment(job_id)}/cancel")
        return self._one(Job, data)

    def wait(
        self,
        job_id: str,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        progress: bool | None = None,
        label: str = "job",
    ) -> Job:
        """Poll a job until it ends (any final status), showing its progress; return it.

        >>> client.jobs.wait(job.id, timeout=600).status
        'succeeded'
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with job_progress(label, self._progress(progress)) as bar:
            while True:
                job = self.get(job_id)
                bar.update(job.progress, job.progress_message, job.status)
                if job.done:
                    if job.status == "succeeded":
                        bar.update(1.0, job.progress_message or "done", job.status)
                    return job
                if deadline is not None and time.monotonic() >= deadline:
                    raise WaitTimeout(
                        f"job {job_id} is still {job.status} after {timeout:g} s "
                        f"({job.progress_message or 'no progress message'})",
                        job_id=job_id,
                    )
                pause = poll_interval
                if deadline is not None:
                    pause = max(0.0, min(pause, deadline - time.monotonic()))
                time.sleep(pause)

    def wait_for_run(
        self,
        job_id: str,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        progress: bool | None = None,
    ) -> Run:
        """Wait for a training job and return its finished run.

        Raises ``TrainingError`` carrying the job's error message when it failed or was
        cancelled, ``WaitTimeout`` when ``timeout`` seconds pass first.

        >>> run = client.jobs.wait_for_run(exp.job_id)
        >>> run.status, run.metrics["accuracy"]
        """
        job = self.wait(job_id, timeout, poll_interval, progress, label="training")
        if job.status != "succeeded":
            message = job.error or f"job {job_id} ended {job.status}"
            raise client_error(
                TrainingError, message, job_id=job_id, job_status=job.status,
                error_code=job.error_code, run_id=job.run_id,
            )
        if job.run_id is None:
            raise client_error(
                TrainingError, f"job {job_id} succeeded but names no run", job_id=job_id
            )
        return self._client.runs.get(job.run_id)
