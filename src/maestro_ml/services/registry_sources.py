"""Registering a model version from files already in the tenant's store (MLflow's
``create_model_version`` with a ``source`` such as ``models:/m-...``).

The version becomes deployable like any other: the MLflow model directory found at the
source is turned into a Maestro model directory (``maestro-model.json`` + the model file)
under the version's own ``models/<model_id>/v<n>``. What that directory is depends on how
MLflow serialised the estimator:

- ``skops`` (MLflow 3's default for scikit-learn): a safe ``skops`` model, loaded in the API
  process with the trusted-type allow-list, whatever the pickle policy;
- ``pickle`` / ``cloudpickle``: an ``mlflow-pyfunc`` model, copied byte for byte and never
  opened here; it loads only where the tenant allows pickle models, in the isolated worker.

MLflow registers any source, so a source whose files cannot be served (none in the store,
no MLmodel, an unsupported flavor) still becomes a version; its ``status_message`` says
why it cannot be deployed, and deploying it answers 422.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from maestro_ml.auth.principal import Principal
from maestro_ml.domain.errors import InvalidInput
from maestro_ml.ml.model_formats import MAESTRO_METADATA, MLMODEL_FILE, SKOPS
from maestro_ml.ml.model_io import load_model

from .model_uploads import detect_upload, record_version, stage_model
from .ports import ArtifactStore, UnitOfWorkFactory
from .registry import validate_tags
from .registry_views import VersionView

log = logging.getLogger("maestro_ml.registry")

MAX_SOURCE_CHARS = 4096
MAX_DESCRIPTION_CHARS = 10_000


@dataclass(frozen=True)
class VersionSource:
    """Where a registered version comes from, as the MLflow registry records it.

    ``files_key`` is the tenant-relative store key of the model directory, when the source
    lies in the tenant's store; ``storage_location`` is where clients download it from.
    """

    uri: str
    files_key: str | None
    storage_location: str
    run_id: str | None = None
    logged_model_id: str | None = None
    run_link: str | None = None


@dataclass(frozen=True)
class StagedFiles:
    directory: Path | None
    metadata: dict[str, Any]
    problem: str | None = None


class SourceRegistrationService:
    def __init__(self, uow: UnitOfWorkFactory, artifacts: ArtifactStore) -> None:
        self._uow = uow
        self._artifacts = artifacts

    def register_version(
        self, principal: Principal, model_id: str, source: VersionSource, *,
        tags: Mapping[str, str] | None = None, description: str | None = None,
    ) -> VersionView:
        """The next version of ``model_id``, made from the files at ``source``.

        >>> sources.register_version(p, model_id, VersionSource("models:/m-1", key, uri)).version
        1
        """
        if len(source.uri) > MAX_SOURCE_CHARS:
            raise InvalidInput(f"source: at most {MAX_SOURCE_CHARS} characters", field="source")
        if description is not None and len(description) > MAX_DESCRIPTION_CHARS:
            raise InvalidInput(f"description: at most {MAX_DESCRIPTION_CHARS} characters",
                               field="description")
        tags = validate_tags(tags)
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            model = uow.models.get(model_id)
            run = uow.runs.find(source.run_id) if source.run_id else None
            run_id = run.id if run is not None else None
        with tempfile.TemporaryDirectory(prefix="maestro-mlflow-version-") as scratch:
            staged = self._stage(principal, source, Path(scratch), model.task)
            metadata = staged.metadata
            view = record_version(
                self._uow, self._artifacts, principal, model_id, staged.directory,
                format=metadata.get("format", "mlflow"),
                framework=metadata.get("framework", "mlflow"),
                signature=metadata.get("signature") or {}, tags=tags,
                description=description or None, run_id=run_id, source=source.uri,
                storage_location=source.storage_location, source_run_id=source.run_id,
                logged_model_id=source.logged_model_id, run_link=source.run_link,
                status_message=staged.problem,
            )
        self._adopt_task(principal, model_id, metadata.get("task"), view.version)
        return view

    def _adopt_task(
        self, principal: Principal, model_id: str, task: str | None, version: int
    ) -> None:
        """A model registered through MLflow declares no task: its first version's is it."""
        with self._uow.for_tenant(principal.tenant_id) as uow:
            model = uow.models.get(model_id)
            if version == 1 and model.framework == "mlflow" and task and task != model.task:
                model.task = task
                uow.commit()

    def _stage(
        self, principal: Principal, source: VersionSource, scratch: Path, task: str
    ) -> StagedFiles:
        if source.files_key is None:
            return StagedFiles(None, {}, "the source is outside Maestro's artifact store, so "
                               "this version cannot be deployed")
        prefix = self._artifacts.tenant_key(principal.tenant_id, source.files_key)
        if not self._artifacts.exists(f"{prefix}/{MLMODEL_FILE}"):
            return StagedFiles(None, {}, f"no {MLMODEL_FILE} file at the source, so this "
                               "version cannot be deployed")
        downloaded = self._artifacts.download_dir(prefix, scratch / "source")
        try:
            return stage_mlflow_model(downloaded, scratch / "staged", task)
        except (InvalidInput, KeyError, TypeError, ValueError) as exc:
            detail = getattr(exc, "detail", None) or str(exc)
            return StagedFiles(None, {}, f"this version cannot be deployed: {detail}")


def stage_mlflow_model(model_dir: Path, target: Path, task: str) -> StagedFiles:
    """The Maestro model directory for the MLflow model in ``model_dir``, under ``target``.

    A skops model's task is the model's own (a classifier has ``classes_``); a pickled one
    is never opened, so it keeps the registered model's task.
    """
    detected = detect_upload(model_dir)
    if detected.format != SKOPS:
        metadata = stage_model(detected, target, task, None)
        return StagedFiles(target, {**metadata, "framework": detected.framework})
    trial = target.with_name(target.name + "-regression")
    stage_model(detected, trial, "regression", None)
    is_classifier = hasattr(load_model(trial).model, "classes_")
    if not is_classifier:
        trial.rename(target)
        return StagedFiles(target, _read_metadata(target))
    metadata = stage_model(detected, target, "classification", None)
    return StagedFiles(target, metadata)


def _read_metadata(directory: Path) -> dict[str, Any]:
    document = json.loads((directory / MAESTRO_METADATA).read_text())
    return document if isinstance(document, dict) else {}
