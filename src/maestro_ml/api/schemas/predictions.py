"""Schemas of logged predictions, feedback, A/B reports and stacking meta-models."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from .common import Read, Strict

Label = str | int | float | bool


class FeedbackCreate(Strict):
    """Exactly one of ``label`` (classifiers) or ``value`` (regressors); a list for a
    prediction of several rows, in row order."""

    label: Label | list[Label] | None = Field(
        default=None, description="the true class (or classes, one per row)"
    )
    value: float | list[float] | None = Field(
        default=None, description="the true value (or values, one per row)"
    )


class FeedbackRead(Read):
    prediction_id: str
    kind: str
    truths: list[Any]
    created_by: str | None
    created_at: datetime


class LoggedPredictionRead(Read):
    id: str
    deployment_id: str
    revision: int | None
    variant: str
    model_version_id: str | None
    inputs: list[Any] | None = Field(description="null when the inputs were not sampled")
    outputs: dict[str, Any]
    row_count: int
    latency_ms: float
    created_at: datetime
    feedback: FeedbackRead | None


class AbVariantRead(Read):
    name: str
    n: int = Field(description="labelled rows")
    metric: float | None
    ci_low: float | None
    ci_high: float | None


class AbTestRead(Read):
    deployment_id: str
    deployment: str
    metric: str = Field(description="accuracy (classifiers) or rmse (regressors)")
    variants: list[AbVariantRead]
    test: str | None = Field(description="chi-square or welch t-test; null before two samples")
    statistic: float | None
    p_value: float | None
    alpha: float
    min_samples: int
    verdict: str = Field(
        description="'insufficient data', 'no significant difference' or '<variant> is better'"
    )
    winner: str | None


class MetaModelCreate(Strict):
    config: dict[str, Any] = Field(description="the stacking ensemble's members")
    dataset_id: str = Field(min_length=1, max_length=64)
    target: str = Field(min_length=1, max_length=256)


class MetaModelRead(Read):
    meta_model_key: str
    task: str
    rows: int
    classes: list[Any] | None
