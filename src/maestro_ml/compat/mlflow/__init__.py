"""The MLflow REST API (``/api/2.0/mlflow``, ``/api/3.0/mlflow``, ``/api/2.0/mlflow-artifacts``),
mapped onto Maestro's own experiments, runs, artifacts and registry."""

from __future__ import annotations

from fastapi import APIRouter

from . import artifacts, logged_models, registry, tracking


def mlflow_routers() -> list[APIRouter]:
    return [tracking.router, artifacts.router, registry.router, logged_models.router]
