"""SLO minute buckets and per-deployment SLO overrides.

Windowed sums are one ``GROUP BY`` with a ``CASE`` per window, so a status read costs one
query however many windows the policy has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.orm import Session

from ..tables import (
    ApiKeyRow,
    ApiSloBucketRow,
    DeploymentRow,
    DeploymentSloBucketRow,
    DeploymentSloRow,
    TenantRow,
    utcnow,
)

Sums = tuple[int, int, int]
"""(total, bad, slow) requests."""
WindowSums = dict[str, Sums]


class SloRecordRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- writing buckets ------------------------------------------------------------------

    def add_api(self, source: str, minute: int, counts: Sums) -> None:
        where = (ApiSloBucketRow.minute == minute, ApiSloBucketRow.source == source)
        if not self._increment(ApiSloBucketRow, where, counts):
            self.session.add(ApiSloBucketRow(minute=minute, source=source, **_fields(counts)))

    def add_deployment(self, deployment_id: str, source: str, minute: int, counts: Sums) -> None:
        row = DeploymentSloBucketRow
        where = (row.deployment_id == deployment_id, row.minute == minute, row.source == source)
        if not self._increment(row, where, counts):
            self.session.add(row(
                deployment_id=deployment_id, minute=minute, source=source, **_fields(counts)
            ))

    def _increment(self, row: Any, where: Sequence[Any], counts: Sums) -> bool:
        total, bad, slow = counts
        stmt = (
            update(row).where(*where)
            .values(total=row.total + total, bad=row.bad + bad, slow=row.slow + slow)
            .execution_options(synchronize_session=False)
        )
        return bool(self.session.execute(stmt).rowcount)  # type: ignore[attr-defined]

    def delete_before(self, minute: int) -> None:
        """Retention: drop every bucket older than ``minute`` (system session)."""
        for row in (ApiSloBucketRow, DeploymentSloBucketRow):
            self.session.execute(
                delete(row).where(row.minute < minute).execution_options(
                    synchronize_session=False
                )
            )

    # -- reading windows ------------------------------------------------------------------

    def api_windows(self, starts: Mapping[str, int]) -> WindowSums:
        stmt = select(*_window_columns(ApiSloBucketRow, starts)).where(
            ApiSloBucketRow.minute >= min(starts.values())
        )
        values = self.session.execute(stmt).one()
        return _unpack(values, starts)

    def deployment_windows(
        self, starts: Mapping[str, int], deployment_ids: Sequence[str] | None = None
    ) -> dict[tuple[str, str], WindowSums]:
        """``(tenant_id, deployment_id) -> window -> sums``; every deployment when ids is None."""
        row = DeploymentSloBucketRow
        stmt = (
            select(row.tenant_id, row.deployment_id, *_window_columns(row, starts))
            .where(row.minute >= min(starts.values()))
            .group_by(row.tenant_id, row.deployment_id)
        )
        if deployment_ids is not None:
            stmt = stmt.where(row.deployment_id.in_(list(deployment_ids)))
        return {
            (values[0], values[1]): _unpack(values[2:], starts)
            for values in self.session.execute(stmt)
        }

    # -- overrides ------------------------------------------------------------------------

    def get_override(self, deployment_id: str) -> DeploymentSloRow | None:
        return self.session.scalars(
            select(DeploymentSloRow).where(DeploymentSloRow.deployment_id == deployment_id)
        ).first()

    def overrides(self, deployment_ids: Sequence[str] | None = None) -> list[DeploymentSloRow]:
        stmt = select(DeploymentSloRow)
        if deployment_ids is not None:
            stmt = stmt.where(DeploymentSloRow.deployment_id.in_(list(deployment_ids)))
        return list(self.session.scalars(stmt))

    def put_override(self, deployment_id: str, **values: float | None) -> DeploymentSloRow:
        found = self.get_override(deployment_id)
        if found is None:
            found = DeploymentSloRow(deployment_id=deployment_id)
            self.session.add(found)
        for name, value in values.items():
            setattr(found, name, value)
        found.updated_at = utcnow()
        return found


    # -- the names the platform-wide views label SLOs with ---------------------------------

    def deployment_names(self) -> list[tuple[str, str, str]]:
        """(tenant_id, deployment_id, name) of every deployment the session can see."""
        stmt = select(DeploymentRow.tenant_id, DeploymentRow.id, DeploymentRow.name)
        return [(tenant, ident, name) for tenant, ident, name in self.session.execute(stmt)]

    def tenant_names(self) -> dict[str, str]:
        return {ident: name for ident, name in self.session.execute(
            select(TenantRow.id, TenantRow.name)
        )}

    def earliest_api_key_expiry(self, now: datetime) -> datetime | None:
        """When the first active API key expires (secret-expiry alerting)."""
        stmt = select(func.min(ApiKeyRow.expires_at)).where(
            ApiKeyRow.revoked_at.is_(None), ApiKeyRow.expires_at > now
        )
        return self.session.scalar(stmt)


def _fields(counts: Sums) -> dict[str, int]:
    return dict(zip(("total", "bad", "slow"), counts, strict=True))


def _window_columns(row: Any, starts: Mapping[str, int]) -> list[Any]:
    return [
        func.coalesce(func.sum(case((row.minute >= start, getattr(row, column)), else_=0)), 0)
        for start in starts.values()
        for column in ("total", "bad", "slow")
    ]


def _unpack(values: Sequence[Any], starts: Mapping[str, int]) -> WindowSums:
    sums: WindowSums = {}
    for index, name in enumerate(starts):
        total, bad, slow = values[index * 3: index * 3 + 3]
        sums[name] = (int(total or 0), int(bad or 0), int(slow or 0))
    return sums
