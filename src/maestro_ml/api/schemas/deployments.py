"""Schemas of deployments and of prediction requests and responses."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from .common import Read, Strict

Environment = Literal["development", "staging", "production"]


class DeploymentCreate(Strict):
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


class DeploymentUpdate(Strict):
    version: int | None = Field(default=None, ge=1)
    alias: str | None = Field(default=None, max_length=128)
    replicas: int | None = Field(default=None, ge=1, le=100)
    description: str | None = Field(default=None, max_length=10_000)


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


class PredictionRead(BaseModel):
    """Documents the predict response (the route writes it with orjson directly)."""

    deployment: str
    model_version: int
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
