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
from maestro_ml.domain.errors import AlreadyExists, InvalidInput, NotFound
from maestro_ml.domain.names import validate_name
from maestro_ml.domain.search_experiments import (
    ExperimentClause,
    matches,
    parse_experiment_filter,
    parse_experiment_order,
)
from maestro_ml.domain.tracking import (
    ACTIVE,
    DELETED,
    generated_name,
    validate_key,
    validate_tags,
    validate_value,
    validate_view,
)

from .ports import UnitOfWorkFactory

DEFAULT_EXPERIMENT = "Default"
# Experiment search filters in memory; a tenant holding more experiments than this must
# narrow the search by name.
MAX_SEARCHED_EXPERIMENTS = 50_000
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

    def default_experiment(self, principal: Principal, *, create: bool = True) -> Any:
        """The tenant's "Default" experiment (MLflow's experiment "0"), created on first
        use unless ``create`` is false (a caller that may only read)."""
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            found = uow.experiments.find_by_name(DEFAULT_EXPERIMENT)
        if found is not None:
            return found
        if not create:
            raise NotFound(
                f"experiment '{DEFAULT_EXPERIMENT}' does not exist yet", kind="experiment"
            )
        try:
            return self.create_experiment(principal, name=DEFAULT_EXPERIMENT)
        except AlreadyExists:  # created meanwhile by a concurrent request
            return self.get_experiment_by_name(principal, DEFAULT_EXPERIMENT)

    def get_experiment_by_name(self, principal: Principal, name: str) -> Any:
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            found = uow.experiments.find_by_name(name)
        if found is None:
            raise NotFound(f"experiment '{name[:200]}' does not exist", kind="experiment")
        return found

    def search_experiments(
        self,
        principal: Principal,
        *,
        filter: str | None = None,  # noqa: A002 - MLflow's name for it
        order_by: list[str] | None = None,
        view: str = ACTIVE,
        offset: int = 0,
        limit: int = 1000,
    ) -> tuple[list[Any], bool]:
        """One page of the experiments matching ``filter`` (MLflow's experiment search
        language) in ``order_by`` order (default: newest first); and whether more follow."""
        clauses = parse_experiment_filter(filter)
        order = parse_experiment_order(order_by)
        view = validate_view(view)
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            rows = uow.experiments.in_view(view, MAX_SEARCHED_EXPERIMENTS)
        found = [row for row in rows if _matches_all(row, clauses)]
        for field, descending in reversed(order or [("creation_time", True)]):
            found.sort(key=lambda row, f=field: _sort_value(row, f), reverse=descending)
        return found[offset : offset + limit], len(found) > offset + limit

    def set_experiment_tag(
        self, principal: Principal, experiment_id: str, key: str, value: str
    ) -> None:
        key = validate_key(key, "tag")
        value = validate_value(value, "tag", key)
        with self._uow.for_tenant(principal.tenant_id) as uow:
            row = uow.experiments.get(experiment_id)
            validate_tags({**row.tags, key: value})
            row.tags = {**row.tags, key: value}
            row.updated_at = datetime.now(UTC)
            uow.commit()

    def delete_experiment_tag(self, principal: Principal, experiment_id: str, key: str) -> None:
        with self._uow.for_tenant(principal.tenant_id) as uow:
            row = uow.experiments.get(experiment_id)
            if key not in row.tags:
                raise NotFound(f"experiment '{experiment_id}' has no tag '{key}'", kind="tag")
            row.tags = {k: v for k, v in row.tags.items() if k != key}
            row.updated_at = datetime.now(UTC)
            uow.commit()

    def _set_stage(self, principal: Principal, experiment_id: str, stage: str) -> Any:
        with self._uow.for_tenant(principal.tenant_id) as uow:
            row = uow.experiments.get(experiment_id)
            if row.lifecycle_stage != stage:
                row.lifecycle_stage = stage
                row.updated_at = datetime.now(UTC)
                uow.commit()
            return row


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _matches_all(row: Any, clauses: list[ExperimentClause]) -> bool:
    created, updated = epoch_ms(row.created_at), epoch_ms(row.updated_at)
    return all(matches(c, row.name, row.tags, created, updated) for c in clauses)


def _sort_value(row: Any, field: str) -> Any:
    if field == "name":
        return row.name
    if field == "experiment_id":
        return row.id
    return epoch_ms(row.created_at if field == "creation_time" else row.updated_at)


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
