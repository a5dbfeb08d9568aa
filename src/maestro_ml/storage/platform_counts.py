"""Whole-platform object counts (every tenant) for the business gauges of ``/metrics``.

Plain Core selects on a connection, outside the tenant-scoped session on purpose: an
operator's scrape reports the installation, not one tenant. Only counts leave this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine, func, select

from .tables import DeploymentRow, ExperimentRow, JobRow, ModelRow, ModelVersionRow, RunRow


@dataclass(frozen=True)
class PlatformCounts:
    registered_models: int
    model_versions: int
    experiments: int
    runs: int
    deployments: int
    jobs_by_state: dict[str, int] = field(default_factory=dict)


def read_platform_counts(engine: Engine) -> PlatformCounts:
    """One round of ``count(*)`` queries in one read transaction."""
    def count(table: type) -> int:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())

    with engine.connect() as connection:
        jobs = connection.execute(
            select(JobRow.status, func.count()).group_by(JobRow.status)
        ).all()
        return PlatformCounts(
            registered_models=count(ModelRow), model_versions=count(ModelVersionRow),
            experiments=count(ExperimentRow), runs=count(RunRow),
            deployments=count(DeploymentRow),
            jobs_by_state={str(status): int(n) for status, n in jobs},
        )
