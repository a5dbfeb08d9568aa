"""Maestro objects as MLflow protocol messages (``service.proto``'s JSON form).

Doubles that JSON cannot hold (NaN, ±infinity) are written as proto3 JSON writes them,
``"NaN"``, ``"Infinity"``, ``"-Infinity"``; the client's parser reads them back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi.responses import Response

from maestro_ml.services.experiments import epoch_ms

from .artifact_paths import experiment_artifact_location, run_artifact_uri

RUN_NAME_TAG = "mlflow.runName"
PARENT_RUN_TAG = "mlflow.parentRunId"
VIEW_TYPES = {"ACTIVE_ONLY": "active", "DELETED_ONLY": "deleted", "ALL": "all"}


def respond(body: Mapping[str, Any] | None = None) -> Response:
    return Response(orjson.dumps(body or {}), media_type="application/json")


def double(value: float) -> float | str:
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def key_values(mapping: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in mapping.items()]


def experiment(row: Any) -> dict[str, Any]:
    return {
        "experiment_id": row.id,
        "name": row.name,
        "artifact_location": experiment_artifact_location(row.id),
        "lifecycle_stage": row.lifecycle_stage,
        "last_update_time": epoch_ms(row.updated_at),
        "creation_time": epoch_ms(row.created_at),
        "tags": key_values(row.tags or {}),
    }


def run_info(run: Any) -> dict[str, Any]:
    info = {
        "run_id": run.id,
        "run_uuid": run.id,
        "run_name": run.name,
        "experiment_id": run.experiment_id,
        "user_id": run.user_id or "",
        "status": run.status,
        "start_time": run.start_time,
        "artifact_uri": run_artifact_uri(run.experiment_id, run.id),
        "lifecycle_stage": run.lifecycle_stage,
    }
    if run.end_time is not None:
        info["end_time"] = run.end_time
    return info


def run(details: Any, metric_steps: Mapping[str, tuple[int, int]] | None = None) -> dict[str, Any]:
    """A run with its data (latest metrics, params, tags), inputs (datasets, logged models)
    and outputs (logged models)."""
    steps = metric_steps or {}
    metrics = [
        {"key": key, "value": double(value), "timestamp": steps.get(key, (0, 0))[1],
         "step": steps.get(key, (0, 0))[0]}
        for key, value in details.metrics.items()
    ]
    tags = dict(details.tags)
    tags.setdefault(RUN_NAME_TAG, details.name)
    if details.parent_run_id:
        tags.setdefault(PARENT_RUN_TAG, details.parent_run_id)
    return {
        "info": run_info(details),
        "data": {
            "metrics": metrics, "params": key_values(details.params), "tags": key_values(tags),
        },
        "inputs": {
            "dataset_inputs": [dataset_input(item) for item in details.inputs],
            "model_inputs": [{"model_id": m["model_id"]} for m in details.models
                             if m["direction"] == "input"],
        },
        "outputs": {"model_outputs": [
            {"model_id": m["model_id"], **({} if m["step"] is None else {"step": m["step"]})}
            for m in details.models if m["direction"] == "output"
        ]},
    }


def dataset_input(item: Mapping[str, Any]) -> dict[str, Any]:
    dataset = {
        "name": item["name"], "digest": item["digest"], "source_type": item["source_type"],
        "source": item["source"],
    }
    if item.get("schema") is not None:
        dataset["schema"] = item["schema"]
    if item.get("profile") is not None:
        dataset["profile"] = item["profile"]
    return {"tags": key_values(item.get("tags") or {}), "dataset": dataset}


def metric(value: Any) -> dict[str, Any]:
    return {"key": value.key, "value": double(value.value), "timestamp": value.timestamp,
            "step": value.step}
