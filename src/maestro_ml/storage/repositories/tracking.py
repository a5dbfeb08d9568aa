"""Repositories of datasets, experiments, runs (params, metrics, tags) and artifacts."""

from __future__ import annotations

from sqlalchemy import func, select

from ..tables import ArtifactRow, DatasetRow, ExperimentRow, RunRow
from .base import Repository


class DatasetRepository(Repository[DatasetRow]):
    row = DatasetRow
    kind = "dataset"

    def latest_version(self, name: str) -> int:
        stmt = select(func.max(DatasetRow.version)).where(DatasetRow.name == name)
        return int(self.session.scalar(stmt) or 0)


class ExperimentRepository(Repository[ExperimentRow]):
    row = ExperimentRow
    kind = "experiment"


class RunRepository(Repository[RunRow]):
    row = RunRow
    kind = "run"


class ArtifactRepository(Repository[ArtifactRow]):
    row = ArtifactRow
    kind = "artifact"
