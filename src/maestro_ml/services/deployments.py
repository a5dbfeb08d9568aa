"""Deployment use cases: put model versions behind a named endpoint, change them, remove it.

A deployment serves its active revision (see ``revisions``): one or more variants — model
versions with a role and a share of the traffic. Creating or changing what it serves writes
a new revision; versions are chosen by number, by alias or (neither) the latest, and an
alias is resolved when the revision is written, not followed afterwards.

Every version of a new revision is warmed up first — loaded into this process's cache — and
nothing is written when one fails, so a revision that exists can serve. The switch itself is
one pointer change; requests already running finish on the model they started with, which
stays cached (a rolling switch fails no request). Every change drops the deployment's
cached route so the next prediction uses the new revision.

With ``require_approval`` a new revision waits (``pending_approval``) until a different
user holding ``deployments:approve`` approves it (see ``rollouts``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from maestro_ml.auth.permissions import Role
from maestro_ml.auth.principal import Principal
from maestro_ml.domain.errors import (
    AlreadyExists,
    InvalidInput,
    MaestroError,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from maestro_ml.domain.names import MAX_SLUG_LENGTH, slugify
from maestro_ml.domain.rollout import CanaryPolicy, VariantSpec, drop_canary, shift_weights

from .ensembles import validate_composite_config
from .ports import ArtifactStore, UnitOfWorkFactory
from .predictions import PredictionService, validator_for
from .registry import ViewPage, resolve_version
from .revisions import (
    RevisionChange,
    activate,
    add_revision,
    check_settings,
    check_strategy_and_kind,
    resolve_variants,
    specs_of,
    stage,
)

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
    revision: int | None = None
    strategy: str = "rolling"
    kind: str = "single"
    variants: tuple[dict[str, Any], ...] = ()
    require_approval: bool = False
    pending_revision: int | None = None
    staged_revision: int | None = None

    @classmethod
    def of(cls, row: Any, version: int, uow: Any = None) -> DeploymentView:
        view = cls(
            id=row.id, name=row.name, model_id=row.model_id,
            model_version_id=row.model_version_id, version=version,
            environment=row.environment, replicas=row.replicas, status=row.status,
            description=row.description, url=f"/api/v1/deployments/{row.name}/predict",
            created_at=row.created_at, updated_at=row.updated_at,
            require_approval=bool(row.require_approval),
        )
        if uow is None:
            return view
        revisions = uow.deployment_revisions
        current = revisions.get(row.current_revision_id) if row.current_revision_id else None
        staged = revisions.get(row.staged_revision_id) if row.staged_revision_id else None
        pending = revisions.pending(row.id)
        return replace(
            view, status="pending_approval" if current is None and pending else row.status,
            revision=current.number if current else None,
            strategy=current.strategy if current else "rolling",
            kind=current.kind if current else "single",
            variants=tuple(current.variants) if current else (),
            pending_revision=pending.number if pending else None,
            staged_revision=staged.number if staged else None,
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


def _check_approval_change(principal: Principal, row: Any, require_approval: bool) -> None:
    """Only a tenant admin may lift the approval rule (else one user could lift it and then
    change the deployment alone)."""
    if row.require_approval and not require_approval and not principal.role.at_least(
        Role.TENANT_ADMIN
    ):
        raise PermissionDenied(
            f"deployment '{row.name}' requires approval: only a tenant admin can turn that off"
        )


@dataclass(frozen=True)
class _Plan:
    """A revision ready to write: resolved, validated and warmed up."""

    specs: list[VariantSpec]
    strategy: str
    kind: str
    settings: dict[str, Any]
    composite: dict[str, Any] | None


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
        *, change: RevisionChange | None = None, require_approval: bool = False,
    ) -> DeploymentView:
        """Deploy a model version, e.g. ``create_deployment(p, model_id, alias="champion")``."""
        _check_settings(environment, replicas)
        change = replace(change or RevisionChange(), version=version, alias=alias)
        if change.strategy == "blue_green":
            raise InvalidInput(
                "blue_green rolls out a change of an existing deployment: create it first",
                field="strategy",
            )
        if name is not None:
            name = check_deployment_name(name)
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            model = uow.models.get(model_id)
            plan = self._plan(uow, model.id, None, change)
            if name is not None and uow.deployments.find_by_name(name) is not None:
                raise AlreadyExists(f"deployment '{name}' already exists", field="name")
        for attempt in range(_NAME_ATTEMPTS):
            try:
                return self._insert(
                    principal, model.id, plan, change.reason, name, environment, replicas,
                    description, require_approval,
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
            views = [DeploymentView.of(d, numbers[d.model_version_id], uow) for d in page.items]
            return ViewPage(views, page.next_cursor)

    def get_deployment(self, principal: Principal, id_or_name: str) -> DeploymentView:
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            return self.view(uow, uow.deployments.get_by_id_or_name(id_or_name))

    def update_deployment(
        self, principal: Principal, id_or_name: str, version: int | None = None,
        alias: str | None = None, replicas: int | None = None, description: str | None = None,
        *, change: RevisionChange | None = None, require_approval: bool | None = None,
    ) -> DeploymentView:
        """Change what it serves (a new revision), scale, or describe; others unchanged."""
        _check_settings(None, replicas)
        change = replace(change or RevisionChange(), version=version, alias=alias)
        plan = None
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            current = uow.deployments.get_by_id_or_name(id_or_name)
            deployment_id = current.id
            if change.touches_serving():
                revision = (
                    uow.deployment_revisions.get(current.current_revision_id)
                    if current.current_revision_id else None
                )
                plan = self._plan(uow, current.model_id, revision, change, current)
        with self._uow.for_tenant(principal.tenant_id) as uow:
            row = uow.deployments.get(deployment_id)
            if replicas is not None:
                row.replicas = replicas
            if description is not None:
                row.description = description or None
            if plan is not None:  # under the approval rule in force before this request
                self.write_revision(uow, row, plan, change.reason, principal.user_id)
            if require_approval is not None:
                _check_approval_change(principal, row, require_approval)
                row.require_approval = require_approval
            row.updated_at = datetime.now(UTC)
            uow.commit()
            view = self.view(uow, row)
        self._serving.forget_route(principal.tenant_id, deployment_id)
        return view

    def delete_deployment(self, principal: Principal, id_or_name: str) -> None:
        with self._uow.for_tenant(principal.tenant_id) as uow:
            row = uow.deployments.get_by_id_or_name(id_or_name)
            deployment_id = row.id
            for revision in uow.deployment_revisions.of_deployment(row.id):
                uow.deployment_revisions.delete(revision)
            uow.deployments.delete(row)
            uow.commit()
        self._serving.forget_route(principal.tenant_id, deployment_id)

    # -- shared with the rollout use cases ------------------------------------------------
    def write_revision(
        self, uow: Any, row: Any, plan: _Plan, reason: str | None, user_id: str | None
    ) -> Any:
        """Add the planned revision: pending, staged (blue-green) or active at once."""
        if row.require_approval:
            state = "pending_approval"
        else:
            state = "staged" if plan.strategy == "blue_green" else "active"
        revision = add_revision(
            uow, row, specs=plan.specs, strategy=plan.strategy, kind=plan.kind,
            settings=plan.settings, composite=plan.composite, reason=reason,
            created_by=user_id, state=state,
        )
        uow.flush()
        if state == "active":
            activate(uow, row, revision)
        elif state == "staged":
            stage(uow, row, revision)
        return revision

    def warm_up_revision(self, uow: Any, tenant_id: str, revision: Any) -> None:
        """Load every version a stored revision serves (before approving or switching)."""
        ids = [s.model_version_id for s in specs_of(revision)]
        ids += [m["model_version_id"] for m in (revision.composite or {}).get("members", [])]
        self._warm_up(tenant_id, [uow.model_versions.get(i) for i in dict.fromkeys(ids)])

    def view(self, uow: Any, row: Any) -> DeploymentView:
        numbers = uow.model_versions.numbers_by_id([row.model_version_id])
        return DeploymentView.of(row, numbers[row.model_version_id], uow)

    # -- internals ------------------------------------------------------------------------
    def _plan(
        self, uow: Any, model_id: str, current: Any, change: RevisionChange,
        deployment: Any = None,
    ) -> _Plan:
        explicit = change.variants is not None or change.version is not None or (
            change.alias is not None
        )
        kind = change.kind or (current.kind if current is not None else "single")
        composite = None
        if kind != "single" and change.composite is None and current is not None and (
            current.kind == kind
        ):
            composite = current.composite  # stored normalised: resolved when first written
        elif kind != "single":
            composite = validate_composite_config(uow, kind, change.composite, self._artifacts)
        elif change.composite is not None:
            raise InvalidInput("'composite' needs kind 'ensemble' or 'chain'", field="composite")
        if composite is not None and not explicit:
            # The composite's first member stands for it in plain views and signature checks.
            first = composite["members"][0]
            specs = [VariantSpec("primary", first["model_version_id"], first["version"],
                                 "primary", 100.0, first["model_id"])]
        else:
            specs = self._next_specs(uow, model_id, current, change, deployment)
        if composite is not None and len(specs) > 1:
            raise InvalidInput(
                f"an {kind} deployment serves one composite model: it takes no canary, "
                "challenger or shadow variants", field="variants",
            )
        roles = {s.role for s in specs}
        strategy = change.strategy or (
            current.strategy if current is not None and not explicit
            and current.strategy != "blue_green"
            else "canary" if "canary" in roles else "ab_test" if "challenger" in roles
            else "rolling"
        )
        check_strategy_and_kind(strategy, kind)
        settings = {k: v for k, v in (current.settings if current else {}).items()
                    if k != "canary"}
        settings.update(check_settings(change.settings))
        if strategy == "canary":
            if "canary" not in roles:
                raise InvalidInput(
                    "a canary needs the version to try: give 'version' or 'alias' (or a "
                    "variant with the role 'canary')", field="strategy",
                )
            previous = (current.settings or {}).get("canary") if current else None
            settings["canary"] = CanaryPolicy.of_json(change.canary or previous or {}).as_json()
        elif change.canary is not None:
            raise InvalidInput("'canary' settings need strategy 'canary'", field="canary")
        ids = [s.model_version_id for s in specs]
        ids += [m["model_version_id"] for m in (composite or {}).get("members", [])]
        self._warm_up(uow.tenant_id, [uow.model_versions.get(i) for i in dict.fromkeys(ids)])
        return _Plan(specs, strategy, kind, settings, composite)

    @staticmethod
    def _next_specs(
        uow: Any, model_id: str, current: Any, change: RevisionChange, deployment: Any
    ) -> list[VariantSpec]:
        if change.variants is not None:
            if change.version is not None or change.alias is not None:
                raise InvalidInput(
                    "give either 'variants' or 'version'/'alias', not both", field="variants"
                )
            return resolve_variants(uow, model_id, change.variants)
        if current is not None:
            specs = specs_of(current)
        elif deployment is not None:
            version = uow.model_versions.get(deployment.model_version_id)
            specs = [VariantSpec("primary", version.id, version.version, "primary", 100.0,
                                 model_id)]
        else:
            specs = []
        if change.version is None and change.alias is None and specs:
            return specs
        target = resolve_version(uow, uow.models.get(model_id), change.version, change.alias)
        if not specs:
            return [VariantSpec("primary", target.id, target.version, "primary", 100.0,
                                model_id)]
        base = drop_canary(specs)
        if change.strategy == "canary":
            policy = CanaryPolicy.of_json(change.canary or {})
            canary = VariantSpec("canary", target.id, target.version, "canary", 0.0, model_id)
            if any(s.name == "canary" for s in base):
                raise InvalidInput("a variant is already named 'canary'", field="variants")
            return shift_weights([*base, canary], policy.steps[0])
        return [
            VariantSpec(s.name, target.id, target.version, s.role, s.weight, model_id)
            if s.role == "primary" else s
            for s in base
        ]

    def _insert(
        self, principal: Principal, model_id: str, plan: _Plan, reason: str | None,
        name: str | None, environment: str, replicas: int, description: str | None,
        require_approval: bool,
    ) -> DeploymentView:
        primary = next(s for s in plan.specs if s.role == "primary")
        with self._uow.for_tenant(principal.tenant_id) as uow:
            model = uow.models.get(model_id)
            for spec in plan.specs:  # still there after the warm-up
                uow.model_versions.get(spec.model_version_id)
            row = uow.deployments.create(
                name=name or self._free_name(uow, model.name, environment),
                model_id=model.id, model_version_id=primary.model_version_id,
                environment=environment, replicas=replicas, status="ready",
                description=description or None, created_by=principal.user_id,
                require_approval=require_approval,
            )
            uow.flush()
            self.write_revision(uow, row, plan, reason, principal.user_id)
            uow.commit()
            # A deployment of this name may have been deleted on another replica.
            self._serving.forget_route(principal.tenant_id, row.id, row.name)
            return self.view(uow, row)

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

    def _warm_up(self, tenant_id: str, versions: list[Any]) -> None:
        """Load the versions into the model cache, or explain (422) why one cannot serve."""
        for version in versions:
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
