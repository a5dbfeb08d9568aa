"""Registry and logged-model objects in MLflow's JSON shapes (proto3 JSON, as MLflow's own
server writes them: int64 timestamps in milliseconds, absent fields left out)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from maestro_ml.domain.errors import InvalidInput
from maestro_ml.services.logged_models import LoggedModelView
from maestro_ml.services.registry_views import RegisteredModelView, VersionView

from .common import MlflowRequest
from .messages import double


def millis(moment: datetime | None) -> int | None:
    return int(moment.timestamp() * 1000) if moment is not None else None


def key_values(tags: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"key": key, "value": str(value)} for key, value in sorted(tags.items())]


def _present(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if value not in (None, "", [])}


def model_version(model_name: str, view: VersionView) -> dict[str, Any]:
    return _present({
        "name": model_name,
        "version": str(view.version),
        "creation_timestamp": millis(view.created_at),
        "last_updated_timestamp": millis(view.updated_at or view.created_at),
        "user_id": view.created_by,
        "current_stage": view.stage,
        "description": view.description,
        "source": view.source or f"models:/{model_name}/{view.version}",
        "run_id": view.source_run_id,
        "status": "READY" if view.status == "READY" else view.status,
        "status_message": view.status_message,
        "tags": key_values(view.tags),
        "run_link": view.run_link,
        "aliases": list(view.aliases),
        "model_id": view.logged_model_id,
    })


def registered_model(view: RegisteredModelView) -> dict[str, Any]:
    model = view.model
    return _present({
        "name": model.name,
        "creation_timestamp": millis(model.created_at),
        "last_updated_timestamp": millis(model.updated_at),
        "user_id": view.created_by,
        "description": model.description,
        "latest_versions": [model_version(model.name, v) for v in view.latest_versions],
        "tags": key_values(model.tags),
        "aliases": [{"alias": alias, "version": str(number)}
                    for alias, number in sorted(model.aliases.items())],
    })


def logged_model(view: LoggedModelView) -> dict[str, Any]:
    # ``creator_id`` is an int64 in MLflow's message; Maestro's user ids are not numbers.
    info = _present({
        "model_id": view.id,
        "experiment_id": view.experiment_id,
        "name": view.name,
        "creation_timestamp_ms": millis(view.created_at),
        "last_updated_timestamp_ms": millis(view.updated_at),
        "artifact_uri": view.artifact_location,
        "status": view.status,
        "model_type": view.model_type,
        "source_run_id": view.source_run_id,
        "status_message": view.status_message,
        "tags": key_values(view.tags),
    })
    metrics = [
        _present({"key": m.key, "value": double(m.value), "timestamp": m.timestamp,
                  "step": m.step, "run_id": m.run_id, "model_id": view.id,
                  "dataset_name": m.dataset_name, "dataset_digest": m.dataset_digest})
        for m in view.metrics
    ]
    return {"info": info, "data": {"params": key_values(view.params), "metrics": metrics}}


def tag_map(body: MlflowRequest, name: str = "tags") -> dict[str, str]:
    """``[{"key": ..., "value": ...}]`` as a dict; every value must be a string."""
    tags: dict[str, str] = {}
    for item in body.objects(name):
        key, value = item.get("key"), item.get("value", "")
        if not isinstance(key, str) or not key:
            raise InvalidInput(f"{name}: every entry needs a non-empty string 'key'", field=name)
        if not isinstance(value, str):
            raise InvalidInput(f"{name}: the value of '{key}' must be a string", field=name)
        tags[key] = value
    return tags

