"""Deployment use cases: put a model version behind a named endpoint, switch it, remove it.

A deployment points at one version, chosen by number, by alias or (neither) the latest; an
alias is resolved when the deployment is created or patched, not followed afterwards.
Deploying warms the model up first — loads it into this process's cache — and writes
nothing when that fails, so a deployment that exists can serve. Every change drops the
deployment's cached route so the next prediction uses the new version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from maestro_ml.auth.principal import Principal
from maestro_ml.domain.errors import (
    AlreadyExists,
    InvalidInput,
    MaestroError,
    NotFound,
    Unavailable,
)
from maestro_ml.domain.names import MAX_SLUG_LENGTH, slugify

from .ports import ArtifactStore, UnitOfWorkFactory
from .predictions import PredictionService, validator_for
from .registry import ViewPage, resolve_version

ENVIRONMENTS = ("development", "staging", "production")
MAX_REPLICAS = 100
_NAME_ATTEMPTS = 3


@dataclass(frozen=True)
class DeploymentView:
    id: str
    name: str
    model_id: str
    model_version_id: str
    version: int
    environment: str
    replicas: int
    status: str
    description: str | None
    url: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Any, version: int) -> DeploymentView:
        return cls(
            id=row.id, name=row.name, model_id=row.model_id,
            model_version_id=row.model_version_id, version=version,
            environment=row.environment, replicas=row.replicas, status=row.status,
            description=row.description, url=f"/api/v1/deployments/{row.name}/predict",
            created_at=row.created_at, updated_at=row.updated_at,
        )


def check_deployment_name(name: str) -> str:
    """A given name must already be a URL-safe slug (``[a-z0-9-]``, at most 63 characters)."""
    slug = slugify(name)
    if slug != name:
        raise InvalidInput(
            f"deployment name {name[:80]!r} is not URL-safe: use lowercase letters, digits "
            f"and single dashes, at most {MAX_SLUG_LENGTH} characters (for example '{slug}')",
            field="name",
        )
    return name


def _check_settings(environment: str | None, replicas: int | None) -> None:
    if environment is not None and environment not in ENVIRONMENTS:
        raise InvalidInput(
            f"environment must be one of {', '.join(ENVIRONMENTS)}", field="environment"
        )
    if replicas is not None and not 1 <= replicas <= MAX_REPLICAS:
        raise InvalidInput(f"replicas must be between 1 and {MAX_REPLICAS}", field="replicas")


class DeploymentService:
    def __init__(
        self, uow: UnitOfWorkFactory, artifacts: ArtifactStore, serving: PredictionService
    ) -> None:
        self._uow = uow
        self._artifacts = artifacts
        self._serving = serving

    def create_deployment(
        self, principal: Principal, model_id: str, version: int | None = None,
        alias: str | None = None, name: str | None = None,
        environment: str = "development", replicas: int = 1, description: str | None = None,
    ) -> DeploymentView:
        """Deploy a model version, e.g. ``create_deployment(p, model_id, alias="champion")``."""
        _check_settings(environment, replicas)
        if name is not None:
            name = check_deployment_name(name)
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            model = uow.models.get(model_id)
            target = resolve_version(uow, model, version, alias)
            if name is not None and uow.deployments.find_by_name(name) is not None:
                raise AlreadyExists(f"deployment '{name}' already exists", field="name")
        self._warm_up(principal.tenant_id, target)
        for attempt in range(_NAME_ATTEMPTS):
            try:
                return self._insert(
                    principal, model.id, target.id, target.version, name, environment,
                    replicas, description,
                )
            except AlreadyExists:
                # Two deploys picked the same generated name at once: pick again.
                if name is not None or attempt == _NAME_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def list_deployments(
        self, principal: Principal, limit: int, cursor: str | None = None, *,
        model_id: str | None = None, environment: str | None = None,
    ) -> ViewPage[DeploymentView]:
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            page = uow.deployments.search(
                limit=limit, cursor=cursor, model_id=model_id, environment=environment
            )
            numbers = uow.model_versions.numbers_by_id(d.model_version_id for d in page.items)
            views = [DeploymentView.of(d, numbers[d.model_version_id]) for d in page.items]
            return ViewPage(views, page.next_cursor)

    def get_deployment(self, principal: Principal, id_or_name: str) -> DeploymentView:
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            return self._view(uow, uow.deployments.get_by_id_or_name(id_or_name))

    def update_deployment(
        self, principal: Principal, id_or_name: str, version: int | None = None,
        alias: str | None = None, replicas: int | None = None, description: str | None = None,
    ) -> DeploymentView:
        """Switch the version (by number or alias), scale, or describe; others unchanged."""
        _check_settings(None, replicas)
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            current = uow.deployments.get_by_id_or_name(id_or_name)
            deployment_id, target = current.id, None
            if version is not None or alias is not None:
                model = uow.models.get(current.model_id)
                target = resolve_version(uow, model, version, alias)
        if target is not None:
            self._warm_up(principal.tenant_id, target)
        with self._uow.for_tenant(principal.tenant_id) as uow:
            row = uow.deployments.get(deployment_id)
            if target is not None:
                row.model_version_id = uow.model_versions.get(target.id).id
            if replicas is not None:
                row.replicas = replicas
            if description is not None:
                row.description = description or None
            row.updated_at = datetime.now(UTC)
            uow.commit()
            view = self._view(uow, row)
        self._serving.forget_route(principal.tenant_id, deployment_id)
        return view

    def delete_deployment(self, principal: Principal, id_or_name: str) -> None:
        with self._uow.for_tenant(principal.tenant_id) as uow:
            row = uow.deployments.get_by_id_or_name(id_or_name)
            deployment_id = row.id
            uow.deployments.delete(row)
            uow.commit()
        self._serving.forget_route(principal.tenant_id, deployment_id)

    # -- internals ------------------------------------------------------------------------
    def _insert(
        self, principal: Principal, model_id: str, version_id: str, version: int,
        name: str | None, environment: str, replicas: int, description: str | None,
    ) -> DeploymentView:
        with self._uow.for_tenant(principal.tenant_id) as uow:
            model = uow.models.get(model_id)
            uow.model_versions.get(version_id)  # still there after the warm-up
            row = uow.deployments.create(
                name=name or self._free_name(uow, model.name, environment),
                model_id=model.id, model_version_id=version_id, environment=environment,
                replicas=replicas, status="ready", description=description or None,
                created_by=principal.user_id,
            )
            uow.commit()
            # A deployment of this name may have been deleted on another replica.
            self._serving.forget_route(principal.tenant_id, row.id, row.name)
            return DeploymentView.of(row, version)

    @staticmethod
    def _free_name(uow: Any, model_name: str, environment: str) -> str:
        """``<slug(model name)>-<environment>``, then ``-2``, ``-3`` ... when taken."""
        suffix = f"-{environment}"
        try:
            stem = slugify(model_name)
        except InvalidInput:  # a name with no ASCII letters or digits at all
            stem = "model"
        # Room for the environment and a "-NNN" counter within the slug length.
        base = stem[: MAX_SLUG_LENGTH - len(suffix) - 4].rstrip("-") + suffix
        taken = uow.deployments.names_starting_with(base)
        if base not in taken:
            return base
        counter = 2
        while f"{base}-{counter}" in taken:
            counter += 1
        return f"{base}-{counter}"

    def _warm_up(self, tenant_id: str, version: Any) -> None:
        """Load the version into the model cache, or explain (422) why it cannot serve."""
        key = self._artifacts.tenant_key(tenant_id, version.artifact_key)
        try:
            validator_for(version.signature)
            self._serving.load_version(version.id, key, tenant_id)
        except (NotFound, Unavailable):
            raise
        except MaestroError as exc:
            raise InvalidInput(
                f"model version {version.version} cannot be deployed: {exc.detail}"
            ) from exc
        except Exception as exc:
            raise InvalidInput(
                f"model version {version.version} cannot be deployed: it failed to load "
                f"({type(exc).__name__}: {exc})"
            ) from exc

    @staticmethod
    def _view(uow: Any, row: Any) -> DeploymentView:
        numbers = uow.model_versions.numbers_by_id([row.model_version_id])
        return DeploymentView.of(row, numbers[row.model_version_id])
