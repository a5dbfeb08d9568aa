"""The MLflow REST API (``/api/2.0/mlflow``, ``/api/3.0/mlflow``, ``/api/2.0/mlflow-artifacts``),
mapped onto Maestro's own experiments, runs, artifacts and registry."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from . import artifacts, experiments, logged_models, registry, tracking
from .common import error_formats


def mlflow_routers() -> list[APIRouter]:
    return [
        experiments.router, tracking.router, artifacts.router, registry.router,
        logged_models.router,
    ]


def mlflow_error_formats() -> list[tuple[tuple[str, ...], Any]]:
    return error_formats()
