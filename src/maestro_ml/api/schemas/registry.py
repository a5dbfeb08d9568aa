"""Schemas of registered models, model versions, stages, aliases and lineage."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from .common import Read, Strict

Task = Literal["classification", "regression"]
Framework = Literal["sklearn", "xgboost", "lightgbm", "onnx", "mlflow"]
Stage = Literal["None", "Staging", "Production", "Archived"]
Tags = dict[str, str]


class ModelCreate(Strict):
    name: str = Field(min_length=1, max_length=256)
    task: Task
    framework: Framework
    description: str | None = Field(default=None, max_length=10_000)
    tags: Tags = Field(default_factory=dict)


class ModelUpdate(Strict):
    description: str | None = Field(
        default=None, max_length=10_000, description="an empty string clears it"
    )
    tags: Tags | None = Field(default=None, description="replaces all tags")


class ModelRead(Read):
    id: str
    name: str
    task: str
    framework: str
    description: str | None
    tags: dict[str, Any]
    latest_version: int | None
    aliases: dict[str, int] = Field(description="alias -> version number")
    created_at: datetime
    updated_at: datetime


class VersionUpdate(Strict):
    description: str | None = Field(default=None, max_length=10_000)
    tags: Tags | None = None
    stage: str | None = Field(
        default=None,
        description="needs models:promote; prefer POST .../stage (one of None, Staging, "
        "Production, Archived)",
    )


class StageChange(Strict):
    stage: Stage
    archive_existing: bool = Field(
        default=False, description="archive the other versions in Staging/Production"
    )


class AliasSet(Strict):
    version: int = Field(ge=1)


class ModelVersionRead(Read):
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


class LineageRun(Read):
    id: str
    experiment_id: str
    name: str
    status: str
    start_time: int | None
    end_time: int | None
    params: dict[str, str]
    metrics: dict[str, float]


class LineageDataset(Read):
    id: str
    name: str
    version: int
    format: str
    sha256: str
    row_count: int


class LineageExperiment(Read):
    id: str
    name: str


class LineageRead(Read):
    version: ModelVersionRead
    run: LineageRun | None
    dataset: LineageDataset | None
    experiment: LineageExperiment | None
