"""Repositories of datasets and experiments (runs: ``runs.py``; artifacts: ``artifacts.py``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, func, select

from ..tables import DatasetRow, ExperimentRow
from .base import Page, Repository


class DatasetRepository(Repository[DatasetRow]):
    row = DatasetRow
    kind = "dataset"

    def latest_version(self, name: str) -> int:
        stmt = select(func.max(DatasetRow.version)).where(DatasetRow.name == name)
        return int(self.session.scalar(stmt) or 0)


_EXPERIMENTS = ExperimentRow.__table__
_STAGE_ANY_TENANT = select(_EXPERIMENTS.c.lifecycle_stage).where(
    _EXPERIMENTS.c.id == bindparam("experiment_id"))
_STAGE = _STAGE_ANY_TENANT.where(_EXPERIMENTS.c.tenant_id == bindparam("tenant_id"))


class ExperimentRepository(Repository[ExperimentRow]):
    row = ExperimentRow
    kind = "experiment"

    def lifecycle_stage(self, experiment_id: str) -> str:
        """The stage (active or deleted) of an experiment of this tenant; NotFound if none."""
        return str(self.get_scoped(_STAGE, _STAGE_ANY_TENANT, "experiment_id", experiment_id)[0])

    def search(
        self, *, limit: int, cursor: str | None = None, name: str | None = None,
        q: str | None = None, view: str = "active",
    ) -> Page[ExperimentRow]:
        """Newest first; ``name`` matches exactly, ``q`` as a case-insensitive substring,
        ``view`` is active, deleted or all."""
        where: list[Any] = []
        if name is not None:
            where.append(ExperimentRow.name == name)
        if q:
            escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append(ExperimentRow.name.ilike(f"%{escaped}%", escape="\\"))
        if view != "all":
            where.append(ExperimentRow.lifecycle_stage == view)
        return self.list(limit=limit, cursor=cursor, where=where)

    def in_view(self, view: str, limit: int) -> list[ExperimentRow]:
        """Up to ``limit`` experiments of the view (active, deleted or all), newest first."""
        stmt = select(ExperimentRow).order_by(ExperimentRow.created_at.desc()).limit(limit)
        if view != "all":
            stmt = stmt.where(ExperimentRow.lifecycle_stage == view)
        return list(self.session.scalars(stmt))
