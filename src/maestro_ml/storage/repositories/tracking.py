"""Repositories of datasets and experiments (runs: ``runs.py``; artifacts: ``artifacts.py``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from ..tables import DatasetRow, ExperimentRow
from .base import Page, Repository


class DatasetRepository(Repository[DatasetRow]):
    row = DatasetRow
    kind = "dataset"

    def latest_version(self, name: str) -> int:
        stmt = select(func.max(DatasetRow.version)).where(DatasetRow.name == name)
        return int(self.session.scalar(stmt) or 0)


class ExperimentRepository(Repository[ExperimentRow]):
    row = ExperimentRow
    kind = "experiment"

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
