"""Schemas of experiments, runs, params, metrics, tags, run search and artifacts.

Metric values may be NaN or ±infinity, which JSON cannot write as numbers: responses carry
them as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` (protobuf's JSON mapping,
which MLflow's REST API uses too), and requests accept the same strings.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, PlainSerializer, model_validator

from .common import Read, Strict

View = Literal["active", "deleted", "all"]


def _json_float(value: float) -> float | str:
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


MetricNumber = Annotated[float, PlainSerializer(_json_float, return_type=float | str)]

# -- experiments -----------------------------------------------------------------------------


class ExperimentCreate(Strict):
    name: str | None = Field(default=None, max_length=256)
    description: str | None = None
    model_id: str | None = Field(default=None, max_length=64)
    dataset_id: str | None = Field(default=None, max_length=64)
    tags: dict[str, str] | None = None
    # Training: with a target, the experiment is created with a run and a training job.
    target: str | None = Field(default=None, max_length=256)
    parameters: dict[str, Any] | None = None
    task: str | None = None
    validation_fraction: float | None = None

    @model_validator(mode="after")
    def _training_fields_need_a_target(self) -> ExperimentCreate:
        if self.target is None:
            extra = [f for f in ("parameters", "task", "validation_fraction")
                     if getattr(self, f) is not None]
            if extra:
                raise ValueError(f"{', '.join(extra)} only apply to training: add 'target'")
        return self


class ExperimentUpdate(Strict):
    name: str | None = Field(default=None, max_length=256)
    description: str | None = None
    model_id: str | None = Field(default=None, max_length=64)
    dataset_id: str | None = Field(default=None, max_length=64)
    tags: dict[str, str] | None = None


class ExperimentRead(Read):
    id: str
    name: str
    description: str | None
    model_id: str | None
    dataset_id: str | None
    lifecycle_stage: str
    tags: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    job_id: str | None = None
    run_id: str | None = None


class TrainRequest(Strict):
    target: str = Field(min_length=1, max_length=256)
    parameters: dict[str, Any] = Field(default_factory=dict)
    task: str | None = None
    validation_fraction: float | None = None


class TrainingStartedRead(Read):
    job_id: str
    run_id: str
    experiment_id: str


# -- runs ------------------------------------------------------------------------------------


class RunCreate(Strict):
    experiment_id: str = Field(max_length=64)
    name: str | None = Field(default=None, max_length=256)
    parent_run_id: str | None = Field(default=None, max_length=64)
    dataset_id: str | None = Field(default=None, max_length=64)
    tags: dict[str, str] | None = None
    start_time: int | None = None


class RunUpdate(Strict):
    status: str | None = None
    end_time: int | None = None
    name: str | None = Field(default=None, max_length=256)


class RunRead(Read):
    id: str
    experiment_id: str
    name: str
    status: str
    start_time: int
    end_time: int | None
    parent_run_id: str | None
    dataset_id: str | None
    job_id: str | None
    user_id: str | None
    lifecycle_stage: str
    params: dict[str, str]
    metrics: dict[str, MetricNumber]
    tags: dict[str, str]
    created_at: datetime


class RunSearch(Strict):
    experiment_ids: list[str] | None = Field(default=None, max_length=1000)
    filter: str | None = None
    order_by: list[str] | None = None
    view: View = "active"
    limit: int | None = None
    cursor: str | None = None


class ParamIn(Strict):
    key: str
    value: str


class TagIn(Strict):
    key: str
    value: str


class MetricIn(Strict):
    key: str
    value: float
    step: int = 0
    timestamp: int | None = None


class MetricRead(Read):
    key: str
    value: MetricNumber
    step: int
    timestamp: int


class BatchIn(Strict):
    params: list[ParamIn] = Field(default_factory=list)
    metrics: list[MetricIn] = Field(default_factory=list)
    tags: list[TagIn] = Field(default_factory=list)


class BatchRead(Read):
    run_id: str
    params: int
    metrics: int
    tags: int


# -- artifacts -------------------------------------------------------------------------------


class ArtifactUploaded(Read):
    path: str
    size_bytes: int
    sha256: str


class ArtifactRead(ArtifactUploaded):
    created_at: datetime
