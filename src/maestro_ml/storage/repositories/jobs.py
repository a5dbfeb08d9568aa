"""Repository of durable jobs and their logs: listing, atomic claims, conditional transitions.

Every state change of a job is a conditional ``UPDATE ... WHERE id = :id AND status = ...``
(and ``AND lease_owner = :owner`` for a worker's own job) whose row count says whether it
happened, so two workers can never both claim, finish or fail the same job. On PostgreSQL
the claim also reads candidates ``FOR UPDATE SKIP LOCKED`` so concurrent workers do not
queue up behind one another's row locks; SQLite serialises writers anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, or_, select, update

from maestro_ml.domain.errors import InvalidInput
from maestro_ml.domain.jobs import QUEUED, RUNNING
from maestro_ml.domain.pagination import decode_cursor, encode_cursor

from ..tables import JobLogRow, JobRow
from .base import Page, Repository

# Candidates read per claim on SQLite, where a lost race just means trying the next one.
_CLAIM_CANDIDATES = 5


class JobRepository(Repository[JobRow]):
    row = JobRow
    kind = "job"

    def search(
        self, *, limit: int, cursor: str | None = None, status: str | None = None,
        kind: str | None = None,
    ) -> Page[JobRow]:
        where: list[Any] = []
        if status is not None:
            where.append(JobRow.status == status)
        if kind is not None:
            where.append(JobRow.kind == kind)
        return self.list(limit=limit, cursor=cursor, where=where)

    # -- the worker's queries -------------------------------------------------------------
    def has_claimable(self, now: datetime) -> bool:
        """Whether any queued job is due (a cheap read before taking a write lock)."""
        stmt = select(JobRow.id).where(*self._due(now)).limit(1)
        return self.session.scalars(stmt).first() is not None

    def claim_next(self, owner: str, now: datetime, lease_until: datetime) -> JobRow | None:
        """Move the oldest due queued job to ``running`` for ``owner``; None when none is due."""
        stmt = select(JobRow.id).where(*self._due(now)).order_by(JobRow.created_at, JobRow.id)
        if self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.limit(1).with_for_update(skip_locked=True)
        else:
            stmt = stmt.limit(_CLAIM_CANDIDATES)
        for job_id in list(self.session.scalars(stmt)):
            claimed = self.transition(
                job_id, from_status=(QUEUED,),
                status=RUNNING, lease_owner=owner, lease_expires_at=lease_until,
                attempts=JobRow.attempts + 1, started_at=now, finished_at=None,
                progress=0.0, progress_message="Starting",
            )
            if claimed:
                return self.session.scalars(select(JobRow).where(JobRow.id == job_id)).one()
        return None

    def expired_leases(self, now: datetime, limit: int = 100) -> list[tuple[str, str]]:
        """``(job_id, tenant_id)`` of running jobs whose worker stopped renewing the lease."""
        stmt = (
            select(JobRow.id, JobRow.tenant_id)
            .where(JobRow.status == RUNNING, JobRow.lease_expires_at < now)
            .order_by(JobRow.lease_expires_at)
            .limit(limit)
        )
        return [(job_id, tenant_id) for job_id, tenant_id in self.session.execute(stmt)]

    def transition(
        self, job_id: str, *, from_status: Sequence[str], owner: str | None = None,
        lease_expired_before: datetime | None = None, **values: Any,
    ) -> bool:
        """Apply ``values`` if the job is in one of ``from_status`` (and held by ``owner``,
        and its lease ran out before ``lease_expired_before``).

        Returns whether the row changed; ``values`` may be empty to merely check the guard
        (the row is then rewritten with its own status, which also takes its lock).
        """
        where = [JobRow.id == job_id, JobRow.status.in_(list(from_status))]
        if owner is not None:
            where.append(JobRow.lease_owner == owner)
        if lease_expired_before is not None:
            where.append(JobRow.lease_expires_at < lease_expired_before)
        stmt = (
            update(JobRow)
            .where(*where)
            .values(**(values or {"status": JobRow.status}))
            .execution_options(synchronize_session=False)
        )
        return self.session.execute(stmt).rowcount == 1  # type: ignore[attr-defined]

    # -- logs (children of a job the caller has loaded or holds) --------------------------
    def append_logs(self, job_id: str, lines: Iterable[tuple[datetime, str, str]]) -> None:
        rows = [
            {"job_id": job_id, "created_at": at, "level": level, "message": message}
            for at, level, message in lines
        ]
        if rows:
            self.session.execute(insert(JobLogRow), rows)

    def logs(self, job_id: str, *, limit: int, cursor: str | None = None) -> Page[JobLogRow]:
        """Oldest first, keyset-paginated on the log line's sequence number."""
        stmt = select(JobLogRow).where(JobLogRow.job_id == job_id)
        if cursor:
            try:
                after = int(decode_cursor(cursor)["i"])
            except (KeyError, TypeError, ValueError):
                raise InvalidInput("invalid page token") from None
            stmt = stmt.where(JobLogRow.id > after)
        rows = list(self.session.scalars(stmt.order_by(JobLogRow.id).limit(limit + 1)))
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = encode_cursor({"i": rows[-1].id})
        return Page(rows, next_cursor)

    @staticmethod
    def _due(now: datetime) -> list[Any]:
        return [
            JobRow.status == QUEUED,
            or_(JobRow.not_before.is_(None), JobRow.not_before <= now),
        ]
