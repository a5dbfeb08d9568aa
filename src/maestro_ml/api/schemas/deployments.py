"""Schemas of deployments and of prediction requests and responses."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from .common import Read, Strict

Environment = Literal["development", "staging", "production"]


Role = Literal["primary", "canary", "challenger", "shadow"]
Strategy = Literal["rolling", "blue_green", "canary", "ab_test"]
Kind = Literal["single", "ensemble", "chain"]


class VariantIn(Strict):
    """A model version serving a share of the traffic (shadows: a copy of it)."""

    role: Role = "primary"
    weight: float | None = Field(
        default=None, ge=0, le=100,
        description="percent of the traffic; serving variants sum to 100, shadows 0",
    )
    version: int | None = Field(default=None, ge=1, description="default: the latest version")
    alias: str | None = Field(default=None, max_length=128, description="instead of version")
    model_id: str | None = Field(
        default=None, max_length=64, description="default: the deployment's model"
    )
    name: str | None = Field(default=None, min_length=1, max_length=63)


class CanaryIn(Strict):
    steps: list[float] = Field(
        default=[5.0, 25.0, 50.0, 100.0], min_length=1, max_length=20,
        description="canary weights in percent, increasing, ending at 100",
    )
    max_error_rate: float = Field(default=0.01, ge=0, le=1)
    max_p99_ms: float = Field(default=500.0, gt=0, le=3_600_000)
    min_requests: int = Field(default=100, ge=1, le=1_000_000)


class RevisionFields(Strict):
    """What a deployment serves and how a change rolls out (a new revision)."""

    variants: list[VariantIn] | None = Field(default=None, min_length=1, max_length=10)
    strategy: Strategy | None = None
    canary: CanaryIn | None = None
    kind: Kind | None = None
    composite: dict[str, Any] | None = Field(
        default=None, description="ensemble or chain configuration (kind ensemble|chain)"
    )
    log_sample_rate: float | None = Field(
        default=None, ge=0, le=1, description="share of predictions logged with inputs"
    )
    shadow_sample_rate: float | None = Field(
        default=None, ge=0, le=1, description="share of requests copied to shadows"
    )
    shadow_tolerance: float | None = Field(
        default=None, ge=0, le=1e12, description="largest |difference| counted as agreement"
    )
    reason: str | None = Field(default=None, max_length=2000, description="why this change")


class DeploymentCreate(RevisionFields):
    model_id: str = Field(min_length=1, max_length=64)
    version: int | None = Field(default=None, ge=1, description="default: the latest version")
    alias: str | None = Field(default=None, max_length=128, description="instead of version")
    name: str | None = Field(
        default=None, max_length=200,
        description="URL-safe slug; default '<model name>-<environment>'",
    )
    environment: Environment = "development"
    replicas: int = Field(default=1, ge=1, le=100)
    description: str | None = Field(default=None, max_length=10_000)
    require_approval: bool = Field(
        default=False, description="changes wait for a second user's approval"
    )


class DeploymentUpdate(RevisionFields):
    version: int | None = Field(default=None, ge=1)
    alias: str | None = Field(default=None, max_length=128)
    replicas: int | None = Field(default=None, ge=1, le=100)
    description: str | None = Field(default=None, max_length=10_000)
    require_approval: bool | None = None


class DeploymentRead(Read):
    id: str
    name: str
    model_id: str
    model_version_id: str
    version: int
    environment: str
    replicas: int
    status: str
    description: str | None
    url: str
    created_at: datetime
    updated_at: datetime
    revision: int | None
    strategy: str
    kind: str
    variants: list[dict[str, Any]]
    require_approval: bool
    pending_revision: int | None
    staged_revision: int | None


class RevisionRead(Read):
    number: int
    kind: str
    strategy: str
    state: str
    variants: list[dict[str, Any]]
    settings: dict[str, Any]
    composite: dict[str, Any] | None
    reason: str | None
    created_by: str | None
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None


class RollbackIn(Strict):
    revision: int | None = Field(
        default=None, ge=1, description="default: the revision before the current one"
    )
    reason: str | None = Field(default=None, max_length=2000)


class PredictionRead(BaseModel):
    """Documents the predict response (the route writes it with orjson directly)."""

    deployment: str
    model_version: int
    prediction_id: str | None = None
    variant: str | None = None
    predictions: list[Any]
    probabilities: list[list[float]] | None
    classes: list[Any] | None


PREDICT_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": 'One of {"features": {...}}, {"instances": [{...}]}, {"columns": [...], '
    '"data": [[...]]}, or the MLflow scoring shapes dataframe_split, dataframe_records, inputs.',
    "examples": [
        {"features": {"tenure": 12, "plan": "pro"}},
        {"instances": [{"tenure": 12, "plan": "pro"}, {"tenure": 3, "plan": "free"}]},
        {"columns": ["tenure", "plan"], "data": [[12, "pro"], [3, "free"]]},
    ],
}
