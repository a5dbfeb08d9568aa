"""Model registry use cases: models, their versions, stages, aliases and lineage.

Versions are created by training (or registration) elsewhere; here they are read, described,
moved between stages and named by aliases. Changing a stage or an alias is a promotion and
needs ``models:promote``; the routes require it, and ``update_version`` checks it again when
its body carries a stage.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from maestro_ml.auth.principal import Principal
from maestro_ml.domain.errors import (
    AlreadyExists,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from maestro_ml.domain.names import validate_name

from .ports import ArtifactStore, UnitOfWorkFactory
from .registry_views import Lineage, ModelView, VersionView, dataset_summary, run_summary

log = logging.getLogger("maestro_ml.registry")

TASKS = ("classification", "regression")
FRAMEWORKS = ("sklearn", "xgboost", "lightgbm", "onnx", "mlflow")
STAGES = ("None", "Staging", "Production", "Archived")
LATEST = "latest"
MAX_TAGS, MAX_TAG_KEY, MAX_TAG_VALUE = 100, 250, 5000
_ALIAS = re.compile(r"[A-Za-z0-9_-]{1,128}")  # MLflow's alphabet, ASCII only

T = TypeVar("T")


@dataclass(frozen=True)
class ViewPage(Generic[T]):
    items: list[T]
    next_cursor: str | None


def validate_alias(alias: str) -> str:
    """An alias is 1-128 of ``[A-Za-z0-9_-]`` (case matters, as in MLflow), not ``latest``
    in any case and not a version number, bare or as ``v<number>`` (MLflow reserves both)."""
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias):
        raise InvalidInput(
            f"alias {str(alias)[:80]!r} is not valid: use 1 to 128 ASCII letters, "
            "digits, '_' or '-' (for example 'champion')", field="alias",
        )
    if alias.lower() == LATEST:
        raise InvalidInput(f"alias '{alias}' is reserved: 'latest' always means the newest "
                           "version")
    if alias.isdigit():
        raise InvalidInput(
            f"alias '{alias}' is all digits and would read as a version number; add a letter"
        )
    if alias[0] in "vV" and alias[1:].isdigit():
        raise InvalidInput(
            f"alias '{alias}' is reserved: 'v<number>' names version {alias[1:]} "
            "(choose a name such as 'release-1')"
        )
    return alias


def validate_tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    if tags is None:
        return {}
    if len(tags) > MAX_TAGS:
        raise InvalidInput(f"tags: at most {MAX_TAGS} tags, got {len(tags)}", field="tags")
    for key, value in tags.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_TAG_KEY:
            raise InvalidInput(f"tags: keys must be 1 to {MAX_TAG_KEY} characters", field="tags")
        if not isinstance(value, str) or len(value) > MAX_TAG_VALUE:
            raise InvalidInput(
                f"tags: the value of '{key}' must be a string of at most {MAX_TAG_VALUE} "
                "characters", field="tags",
            )
    return dict(tags)


def parse_stage(stage: str) -> str:
    """The canonical stage name; accepts any letter case, as MLflow clients send it."""
    for known in STAGES:
        if isinstance(stage, str) and stage.lower() == known.lower():
            return known
    raise InvalidInput(f"stage must be one of {', '.join(STAGES)}; got {stage!r}", field="stage")


def resolve_version(uow: Any, model: Any, version: int | None, alias: str | None) -> Any:
    """The version row a request means: by number, by alias, or the latest when neither."""
    if version is not None and alias is not None:
        raise InvalidInput("give either 'version' or 'alias', not both")
    if version is not None:
        return uow.model_versions.get_version(model.id, version)
    if alias is not None and alias != LATEST:
        found = uow.model_versions.find_by_alias(model.id, alias)
        if found is None:
            raise NotFound(f"model '{model.name}' has no alias '{alias}'", kind="alias")
        return found
    latest = uow.model_versions.latest(model.id)
    if latest is None:
        raise InvalidInput(
            f"model '{model.name}' has no versions yet: train one (an experiment with a "
            "target) or register one first"
        )
    return latest


def _changed_tags(tags: Mapping[str, Any] | None, key: str, value: str | None) -> dict[str, str]:
    changed = dict(tags or {})
    if value is None:
        if key not in changed:
            raise NotFound(f"tag '{str(key)[:250]}' does not exist", kind="tag")
        del changed[key]
        return changed
    changed[key] = value
    return validate_tags(changed)


def now() -> datetime:
    return datetime.now(UTC)


class RegistryService:
    def __init__(self, uow: UnitOfWorkFactory, artifacts: ArtifactStore) -> None:
        self._uow = uow
        self._artifacts = artifacts

    # -- models ---------------------------------------------------------------------------
    def create_model(
        self, principal: Principal, name: str, task: str, framework: str,
        description: str | None = None, tags: Mapping[str, str] | None = None,
    ) -> ModelView:
        """Register a model name, e.g. ``create_model(p, "churn", "classification", "sklearn")``."""
        name = validate_name(name, "model")
        if task not in TASKS:
            raise InvalidInput(f"task must be one of {', '.join(TASKS)}", field="task")
        if framework not in FRAMEWORKS:
            raise InvalidInput(
                f"framework must be one of {', '.join(FRAMEWORKS)}", field="framework"
            )
        with self._uow.for_tenant(principal.tenant_id) as uow:
            if uow.models.find_by_name(name) is not None:
                raise AlreadyExists(f"model '{name}' already exists", field="name")
            model = uow.models.create(
                name=name, task=task, framework=framework, description=description or None,
                tags=validate_tags(tags), created_by=principal.user_id,
            )
            uow.commit()
            return ModelView.of(model, None, {})

    def list_models(
        self, principal: Principal, limit: int, cursor: str | None = None, *,
        name: str | None = None, q: str | None = None, task: str | None = None,
        framework: str | None = None,
    ) -> ViewPage[ModelView]:
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            page = uow.models.search(
                limit=limit, cursor=cursor, name=name, q=q, task=task, framework=framework
            )
            ids = [model.id for model in page.items]
            latest = uow.model_versions.latest_numbers(ids)
            aliases = uow.model_versions.aliases_of_models(ids)
            views = [ModelView.of(m, latest.get(m.id), aliases[m.id]) for m in page.items]
            return ViewPage(views, page.next_cursor)

    def get_model(self, principal: Principal, model_id: str) -> ModelView:
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            return self._model_view(uow, uow.models.get(model_id))

    def update_model(
        self, principal: Principal, model_id: str, description: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> ModelView:
        """Change what is given; an empty description clears it, tags replace the old ones."""
        with self._uow.for_tenant(principal.tenant_id) as uow:
            model = uow.models.get(model_id)
            if description is not None:
                model.description = description or None
            if tags is not None:
                model.tags = validate_tags(tags)
            model.updated_at = now()
            uow.commit()
            return self._model_view(uow, model)

    def delete_model(self, principal: Principal, model_id: str) -> None:
        """Delete a model with its versions and files; refused while a deployment uses it."""
        with self._uow.for_tenant(principal.tenant_id) as uow:
            model = uow.models.get(model_id)
            in_use = uow.deployments.names_using_model(model.id)
            if in_use:
                raise Conflict(
                    f"model '{model.name}' is used by deployment(s) {', '.join(in_use)}; "
                    "delete those deployments first", deployments=in_use,
                )
            uow.models.delete(model)
            uow.commit()
        prefix = self._artifacts.tenant_key(principal.tenant_id, f"models/{model_id}")
        try:
            self._artifacts.delete_prefix(prefix)
        except Exception:  # the rows are gone; leftover files are only wasted space
            log.warning("could not delete the files of model %s", model_id, exc_info=True)

    # -- versions -------------------------------------------------------------------------
    def list_versions(
        self, principal: Principal, model_id: str, limit: int, cursor: str | None = None
    ) -> ViewPage[VersionView]:
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            model = uow.models.get(model_id)
            page = uow.model_versions.list_for_model(model.id, limit=limit, cursor=cursor)
            aliases = uow.model_versions.aliases_by_version(model.id)
            views = [VersionView.of(v, aliases.get(v.id, [])) for v in page.items]
            return ViewPage(views, page.next_cursor)

    def get_version(self, principal: Principal, model_id: str, version: int) -> VersionView:
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            model = uow.models.get(model_id)
            return self._version_view(uow, uow.model_versions.get_version(model.id, version))

    def update_version(
        self, principal: Principal, model_id: str, version: int,
        description: str | None = None, tags: Mapping[str, str] | None = None,
        stage: str | None = None,
    ) -> VersionView:
        if stage is not None and not principal.can("models:promote"):
            raise PermissionDenied(
                f"your role '{principal.role.value}' lacks the permission 'models:promote' "
                "needed to change a stage"
            )
        with self._uow.for_tenant(principal.tenant_id) as uow:
            row = uow.model_versions.get_version(uow.models.get(model_id).id, version)
            if description is not None:
                row.description = description or None
            if tags is not None:
                row.tags = validate_tags(tags)
            if stage is not None:
                row.stage = parse_stage(stage)
            row.updated_at = now()
            uow.commit()
            return self._version_view(uow, row)

    def transition_stage(
        self, principal: Principal, model_id: str, version: int, stage: str,
        archive_existing: bool = False,
    ) -> VersionView:
        """Move a version to a stage; ``archive_existing`` archives the others in that stage."""
        stage = parse_stage(stage)
        with self._uow.for_tenant(principal.tenant_id) as uow:
            model = uow.models.get(model_id)
            row = uow.model_versions.get_version(model.id, version)
            if archive_existing and stage in ("Staging", "Production"):
                for other in uow.model_versions.with_stage(model.id, stage):
                    if other.id != row.id:
                        other.stage = "Archived"
            row.stage = stage
            row.updated_at = now()
            uow.commit()
            return self._version_view(uow, row)

    # -- aliases --------------------------------------------------------------------------
    def set_alias(
        self, principal: Principal, model_id: str, alias: str, version: int
    ) -> VersionView:
        """Point ``alias`` at ``version`` (moving it if it pointed elsewhere)."""
        alias = validate_alias(alias)
        with self._uow.for_tenant(principal.tenant_id) as uow:
            model = uow.models.get(model_id)
            row = uow.model_versions.get_version(model.id, version)
            uow.model_versions.set_alias(model.id, alias, row.id)
            uow.commit()
            return self._version_view(uow, row)

    def get_alias(self, principal: Principal, model_id: str, alias: str) -> VersionView:
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            model = uow.models.get(model_id)
            return self._version_view(uow, resolve_version(uow, model, None, alias))

    def delete_alias(self, principal: Principal, model_id: str, alias: str, *,
                     missing_ok: bool = False) -> None:
        """Remove an alias; one the model does not have is NotFound unless ``missing_ok``
        (MLflow's registry deletes an absent alias without complaint)."""
        with self._uow.for_tenant(principal.tenant_id) as uow:
            model = uow.models.get(model_id)
            if not uow.model_versions.delete_alias(model.id, alias) and not missing_ok:
                raise NotFound(f"model '{model.name}' has no alias '{alias}'", kind="alias")
            uow.commit()

    # -- by name, tags, rename and version deletion (the MLflow registry's operations) -------
    def find_model_id(self, principal: Principal, name: str) -> str:
        """The id of the model called ``name``; NotFound naming it when there is none."""
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            model = uow.models.find_by_name(name) if isinstance(name, str) else None
            if model is None:
                raise NotFound(f"registered model '{str(name)[:256]}' does not exist",
                               kind="model")
            return str(model.id)

    def rename_model(self, principal: Principal, model_id: str, new_name: str) -> ModelView:
        new_name = validate_name(new_name, "model")
        with self._uow.for_tenant(principal.tenant_id) as uow:
            model = uow.models.get(model_id)
            if new_name != model.name and uow.models.find_by_name(new_name) is not None:
                raise AlreadyExists(f"model '{new_name}' already exists", field="name")
            model.name, model.updated_at = new_name, now()
            uow.commit()
            return self._model_view(uow, model)

    def set_model_tag(
        self, principal: Principal, model_id: str, key: str, value: str | None
    ) -> ModelView:
        """Set (``value`` a string) or delete (``value`` None) one tag of a model."""
        with self._uow.for_tenant(principal.tenant_id) as uow:
            model = uow.models.get(model_id)
            model.tags = _changed_tags(model.tags, key, value)
            model.updated_at = now()
            uow.commit()
            return self._model_view(uow, model)

    def set_version_tag(
        self, principal: Principal, model_id: str, version: int, key: str, value: str | None
    ) -> VersionView:
        """Set (``value`` a string) or delete (``value`` None) one tag of a version."""
        with self._uow.for_tenant(principal.tenant_id) as uow:
            row = uow.model_versions.get_version(uow.models.get(model_id).id, version)
            row.tags = _changed_tags(row.tags, key, value)
            row.updated_at = now()
            uow.commit()
            return self._version_view(uow, row)

    def delete_version(self, principal: Principal, model_id: str, version: int) -> None:
        """Delete one version and its files; refused while a deployment serves it."""
        with self._uow.for_tenant(principal.tenant_id) as uow:
            model = uow.models.get(model_id)
            row = uow.model_versions.get_version(model.id, version)
            in_use = uow.model_versions.deployments_serving(model.id, row.id)
            if in_use:
                raise Conflict(
                    f"version {version} of model '{model.name}' is served by deployment(s) "
                    f"{', '.join(in_use)}; move them to another version first",
                    deployments=in_use,
                )
            key = row.artifact_key
            uow.model_versions.delete(row)
            uow.commit()
        try:
            self._artifacts.delete_prefix(self._artifacts.tenant_key(principal.tenant_id, key))
        except Exception:  # the row is gone; leftover files are only wasted space
            log.warning("could not delete the files of a version of model %s", model_id,
                        exc_info=True)

    def latest_by_stage(
        self, principal: Principal, model_id: str, stages: list[str] | None = None
    ) -> list[VersionView]:
        """The newest version in each stage (of ``stages``, or of every stage), by stage."""
        wanted = [parse_stage(stage) for stage in stages] if stages else list(STAGES)
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            model = uow.models.get(model_id)
            newest: dict[str, Any] = {}
            for row in uow.model_versions.all_of_model(model.id):
                if row.stage in wanted:
                    newest[row.stage] = row
            aliases = uow.model_versions.aliases_by_version(model.id)
            return [VersionView.of(newest[s], aliases.get(newest[s].id, []))
                    for s in STAGES if s in newest]

    # -- lineage --------------------------------------------------------------------------
    def lineage(self, principal: Principal, model_id: str, version: int) -> Lineage:
        """The version with the run that produced it, its experiment and its dataset."""
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            model = uow.models.get(model_id)
            row = uow.model_versions.get_version(model.id, version)
            run = uow.runs.find(row.run_id) if row.run_id else None
            experiment = uow.experiments.find(run.experiment_id) if run else None
            dataset_id = row.dataset_id or (run.dataset_id if run else None)
            dataset = uow.datasets.find(dataset_id) if dataset_id else None
            run_view = None
            if run is not None:
                params, metrics = uow.model_versions.run_params_and_metrics(run.id)
                run_view = run_summary(run, params, metrics)
            return Lineage(
                version=self._version_view(uow, row),
                run=run_view,
                dataset=dataset_summary(dataset) if dataset else None,
                experiment={"id": experiment.id, "name": experiment.name} if experiment else None,
            )

    # -- internals ------------------------------------------------------------------------
    @staticmethod
    def _model_view(uow: Any, model: Any) -> ModelView:
        latest = uow.model_versions.latest_numbers([model.id]).get(model.id)
        aliases = uow.model_versions.aliases_of_models([model.id])[model.id]
        return ModelView.of(model, latest, aliases)

    @staticmethod
    def _version_view(uow: Any, row: Any) -> VersionView:
        aliases = uow.model_versions.aliases_by_version(row.model_id).get(row.id, [])
        return VersionView.of(row, aliases)
