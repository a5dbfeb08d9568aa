"""Every router of the REST API, in the order they are mounted."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from maestro_ml.compat import inference_v2
from maestro_ml.compat.mlflow import mlflow_error_formats, mlflow_routers

from . import (
    api_keys,
    artifacts,
    audit,
    auth,
    datasets,
    deployments,
    experiments,
    health,
    jobs,
    metrics,
    model_uploads,
    models,
    predict,
    predictions,
    rollouts,
    runs,
    slos,
    tenants,
    users,
)


def all_routers() -> list[APIRouter]:
    return [
        # The data plane first: FastAPI matches routers in order, and every router scanned
        # before the predict route costs each prediction request a few microseconds.
        predict.router,
        inference_v2.router,
        health.router,
        metrics.router,
        auth.router,
        tenants.router,
        users.router,
        api_keys.router,
        experiments.router,
        runs.router,
        artifacts.router,
        datasets.router,
        jobs.router,
        models.router,
        model_uploads.router,
        deployments.router,
        rollouts.router,  # revisions, rollback, approval, blue-green, canary
        predictions.router,  # prediction log, feedback, A/B reports
        audit.router,
        slos.router,
        *mlflow_routers(),
    ]


def error_formats() -> list[tuple[tuple[str, ...], Any]]:
    """Error bodies of the compatibility protocols, by path prefix (MLflow's, OIP v2's)."""
    return [*mlflow_error_formats(), *inference_v2.error_formats()]
