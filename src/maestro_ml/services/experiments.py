"""Experiment use cases: create, read, list, edit, soft delete and restore.

An experiment's name is unique in its tenant, deleted experiments included (restore it or
choose another name), as in MLflow. Deleting an experiment does not rewrite its runs: run
search treats the runs of a deleted experiment as deleted. Experiments that train a model
are created by the training service, in the same transaction as their run and job.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from maestro_ml.auth.principal import Principal
from maestro_ml.domain.errors import AlreadyExists, InvalidInput
from maestro_ml.domain.names import validate_name
from maestro_ml.domain.tracking import (
    ACTIVE,
    DELETED,
    generated_name,
    validate_tags,
    validate_view,
)

from .ports import UnitOfWorkFactory

EDITABLE_FIELDS = frozenset({"name", "description", "tags", "model_id", "dataset_id"})
MAX_DESCRIPTION_LENGTH = 20_000


class ExperimentService:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    def create_experiment(
        self,
        principal: Principal,
        *,
        name: str | None = None,
        description: str | None = None,
        model_id: str | None = None,
        dataset_id: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Any:
        """Create an experiment; without a name one is generated (``experiment-1f2e3d4c``).

        Example: ``experiments.create_experiment(principal, name="churn", tags={"team": "a"})``
        """
        name = generated_name("experiment") if name is None else validate_name(name, "experiment")
        fields = {
            "name": name,
            "description": _description(description),
            "tags": validate_tags(tags),
            "model_id": model_id,
            "dataset_id": dataset_id,
        }
        with self._uow.for_tenant(principal.tenant_id) as uow:
            _ensure_name_free(uow, name)
            _ensure_links_exist(uow, model_id, dataset_id)
            row = uow.experiments.create(**fields, created_by=principal.user_id)
            uow.commit()
            return row

    def get_experiment(self, principal: Principal, experiment_id: str) -> Any:
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            return uow.experiments.get(experiment_id)

    def list_experiments(
        self,
        principal: Principal,
        *,
        limit: int,
        cursor: str | None = None,
        name: str | None = None,
        q: str | None = None,
        view: str = ACTIVE,
    ) -> Any:
        """Newest first; ``name`` matches exactly, ``q`` is a case-insensitive substring."""
        view = validate_view(view)
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            return uow.experiments.search(limit=limit, cursor=cursor, name=name, q=q, view=view)

    def update_experiment(
        self, principal: Principal, experiment_id: str, changes: Mapping[str, Any]
    ) -> Any:
        """Apply the given fields (name, description, tags, model_id, dataset_id)."""
        unknown = set(changes) - EDITABLE_FIELDS
        if unknown:
            raise InvalidInput(f"cannot change {', '.join(sorted(unknown))} of an experiment")
        with self._uow.for_tenant(principal.tenant_id) as uow:
            row = uow.experiments.get(experiment_id)
            if "name" in changes:
                name = validate_name(changes["name"], "experiment")
                if name != row.name:
                    _ensure_name_free(uow, name)
                row.name = name
            if "description" in changes:
                row.description = _description(changes["description"])
            if "tags" in changes:
                row.tags = validate_tags(changes["tags"])
            _ensure_links_exist(uow, changes.get("model_id"), changes.get("dataset_id"))
            for link in ("model_id", "dataset_id"):
                if link in changes:
                    setattr(row, link, changes[link])
            row.updated_at = datetime.now(UTC)
            uow.commit()
            return row

    def delete_experiment(self, principal: Principal, experiment_id: str) -> None:
        """Soft delete: the experiment and its runs leave default listings and searches."""
        self._set_stage(principal, experiment_id, DELETED)

    def restore_experiment(self, principal: Principal, experiment_id: str) -> Any:
        return self._set_stage(principal, experiment_id, ACTIVE)

    def _set_stage(self, principal: Principal, experiment_id: str, stage: str) -> Any:
        with self._uow.for_tenant(principal.tenant_id) as uow:
            row = uow.experiments.get(experiment_id)
            if row.lifecycle_stage != stage:
                row.lifecycle_stage = stage
                row.updated_at = datetime.now(UTC)
                uow.commit()
            return row


def _ensure_name_free(uow: Any, name: str) -> None:
    # The unique constraint still guards the race; this gives the common case a clear message.
    existing = uow.experiments.find_by_name(name)
    if existing is not None:
        hint = " (it is deleted: restore it or choose another name)" if (
            existing.lifecycle_stage == DELETED
        ) else ""
        raise AlreadyExists(f"experiment '{name}' already exists{hint}", field="name")


def _ensure_links_exist(uow: Any, model_id: str | None, dataset_id: str | None) -> None:
    if model_id is not None:
        uow.models.get(model_id)
    if dataset_id is not None:
        uow.datasets.get(dataset_id)


def _description(description: Any) -> str | None:
    if description is None:
        return None
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidInput(
            f"description must be a string of at most {MAX_DESCRIPTION_LENGTH} characters",
            field="description",
        )
    return description
