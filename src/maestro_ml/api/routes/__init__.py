"""Every router of the REST API, in the order they are mounted."""

from __future__ import annotations

from fastapi import APIRouter

from maestro_ml.compat import inference_v2
from maestro_ml.compat.mlflow import mlflow_routers

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
    model_uploads,
    models,
    predict,
    runs,
    tenants,
    users,
)


def all_routers() -> list[APIRouter]:
    return [
        health.router,
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
        predict.router,
        audit.router,
        inference_v2.router,
        *mlflow_routers(),
    ]
