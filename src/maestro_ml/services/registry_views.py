"""What the registry use cases return: plain, detached views of models, versions and lineage.

Rows do not carry computed fields (a model's latest version, its aliases), so the services
assemble these views inside the transaction and the API serialises them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ModelView:
    id: str
    name: str
    task: str
    framework: str
    description: str | None
    tags: dict[str, Any]
    latest_version: int | None
    aliases: dict[str, int]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Any, latest_version: int | None, aliases: dict[str, int]) -> ModelView:
        return cls(
            id=row.id, name=row.name, task=row.task, framework=row.framework,
            description=row.description, tags=dict(row.tags or {}),
            latest_version=latest_version, aliases=dict(aliases),
            created_at=row.created_at, updated_at=row.updated_at,
        )


@dataclass(frozen=True)
class VersionView:
    id: str
    model_id: str
    version: int
    format: str
    framework: str
    signature: dict[str, Any]
    metrics: dict[str, Any]
    tags: dict[str, Any]
    stage: str
    status: str
    description: str | None
    run_id: str | None
    dataset_id: str | None
    aliases: list[str]
    created_at: datetime
    # What the MLflow registry reports (set when registered through the MLflow API).
    updated_at: datetime | None = None
    created_by: str | None = None
    source: str | None = None
    storage_location: str | None = None
    source_run_id: str | None = None
    logged_model_id: str | None = None
    run_link: str | None = None
    status_message: str | None = None

    @classmethod
    def of(cls, row: Any, aliases: list[str]) -> VersionView:
        return cls(
            id=row.id, model_id=row.model_id, version=row.version, format=row.format,
            framework=row.framework, signature=dict(row.signature or {}),
            metrics=dict(row.metrics or {}), tags=dict(row.tags or {}), stage=row.stage,
            status=row.status, description=row.description, run_id=row.run_id,
            dataset_id=row.dataset_id, aliases=list(aliases), created_at=row.created_at,
            updated_at=row.updated_at or row.created_at, created_by=row.created_by,
            source=row.source, storage_location=row.storage_location,
            source_run_id=row.source_run_id or row.run_id, logged_model_id=row.logged_model_id,
            run_link=row.run_link, status_message=row.status_message,
        )


@dataclass(frozen=True)
class RegisteredModelView:
    """A model with its newest version in each stage, as MLflow's registry lists it."""

    model: ModelView
    latest_versions: list[VersionView]
    created_by: str | None = None


@dataclass(frozen=True)
class NamedVersionView:
    """A version with its model's name (a search across models returns these)."""

    model_name: str
    version: VersionView


@dataclass(frozen=True)
class Lineage:
    version: VersionView
    run: dict[str, Any] | None
    dataset: dict[str, Any] | None
    experiment: dict[str, Any] | None


def run_summary(run: Any, params: dict[str, str], metrics: dict[str, float]) -> dict[str, Any]:
    return {
        "id": run.id, "experiment_id": run.experiment_id, "name": run.name,
        "status": run.status, "start_time": run.start_time, "end_time": run.end_time,
        "params": params, "metrics": metrics,
    }


def dataset_summary(dataset: Any) -> dict[str, Any]:
    return {
        "id": dataset.id, "name": dataset.name, "version": dataset.version,
        "format": dataset.format, "sha256": dataset.sha256, "row_count": dataset.row_count,
    }
