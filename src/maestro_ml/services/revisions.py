"""Deployment revisions: every serving change is a new, immutable revision.

A revision records the variants (model versions, roles, weights), the kind (single model,
ensemble, chain), the strategy it rolls out with, its settings (canary policy, shadow and
log sample rates), who made it, when and why. Only its ``state`` moves:

    pending_approval -> active | staged | rejected      (approval by a second user)
    staged -> active                                     (blue-green switch)
    active -> superseded | rolled_back                   (a newer revision became active)

The deployment row points at the active revision (``current_revision_id``) and the staged
one (``staged_revision_id``), and keeps ``model_version_id`` = the active primary's version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from maestro_ml.domain.errors import Conflict, InvalidInput
from maestro_ml.domain.rollout import KINDS, STRATEGIES, VariantSpec, check_variants

from .registry import resolve_version

SETTING_NAMES = ("log_sample_rate", "shadow_sample_rate", "shadow_tolerance")


@dataclass(frozen=True)
class VariantRequest:
    """A variant as a caller describes it: a version of a model by number or alias."""

    role: str = "primary"
    weight: float | None = None
    version: int | None = None
    alias: str | None = None
    model_id: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class RevisionChange:
    """What a create or update asks to serve; None fields keep the current revision's value."""

    variants: Sequence[VariantRequest] | None = None
    version: int | None = None
    alias: str | None = None
    strategy: str | None = None
    canary: dict[str, Any] | None = None
    kind: str | None = None
    composite: dict[str, Any] | None = None
    settings: dict[str, float] = field(default_factory=dict)
    reason: str | None = None

    def touches_serving(self) -> bool:
        return any(
            value is not None for value in (
                self.variants, self.version, self.alias, self.strategy, self.canary,
                self.kind, self.composite,
            )
        ) or bool(self.settings)


@dataclass(frozen=True)
class RevisionView:
    number: int
    kind: str
    strategy: str
    state: str
    variants: list[dict[str, Any]]
    settings: dict[str, Any]
    composite: dict[str, Any] | None
    reason: str | None
    created_by: str | None
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> RevisionView:
        return cls(
            number=row.number, kind=row.kind, strategy=row.strategy, state=row.state,
            variants=list(row.variants), settings=dict(row.settings or {}),
            composite=row.composite, reason=row.reason, created_by=row.created_by,
            created_at=row.created_at, decided_by=row.decided_by, decided_at=row.decided_at,
        )


def check_strategy_and_kind(strategy: str, kind: str) -> None:
    if strategy not in STRATEGIES:
        raise InvalidInput(f"strategy must be one of {', '.join(STRATEGIES)}", field="strategy")
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}", field="kind")


def check_settings(settings: dict[str, Any]) -> dict[str, float]:
    checked = {}
    for name, value in settings.items():
        if name not in SETTING_NAMES:
            raise InvalidInput(f"unknown revision setting {name!r}", field=name)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise InvalidInput(f"{name} must be a number", field=name)
        if name.endswith("_rate") and not 0 <= value <= 1:
            raise InvalidInput(f"{name} must be between 0 and 1", field=name)
        if name == "shadow_tolerance" and value < 0:
            raise InvalidInput(f"{name} must not be negative", field=name)
        checked[name] = float(value)
    return checked


def resolve_variants(
    uow: Any, default_model_id: str, requests: Sequence[VariantRequest]
) -> list[VariantSpec]:
    """Turn variant requests into specs with version ids, in the caller's tenant."""
    roles = [r.role for r in requests]
    specs = []
    for index, request in enumerate(requests):
        model = uow.models.get(request.model_id or default_model_id)
        version = resolve_version(uow, model, request.version, request.alias)
        name = request.name or (
            request.role if roles.count(request.role) == 1 else f"{request.role}-{index + 1}"
        )
        weight = request.weight
        if weight is None:
            weight = 100.0 if request.role == "primary" and len(requests) == 1 else 0.0
        specs.append(VariantSpec(name, version.id, version.version, request.role, float(weight),
                                 model.id))
    check_variants(specs)
    return specs


def add_revision(
    uow: Any, deployment: Any, *, specs: Sequence[VariantSpec], strategy: str, kind: str,
    settings: dict[str, Any], composite: dict[str, Any] | None, reason: str | None,
    created_by: str | None, state: str,
) -> Any:
    """Insert the deployment's next revision (not yet pointed at)."""
    if state == "pending_approval" and uow.deployment_revisions.pending(deployment.id):
        raise Conflict(
            f"deployment '{deployment.name}' already has a revision awaiting approval: "
            "approve or reject it first"
        )
    return uow.deployment_revisions.create(
        deployment_id=deployment.id, number=uow.deployment_revisions.next_number(deployment.id),
        kind=kind, strategy=strategy, variants=[s.as_json() for s in specs],
        settings=settings, composite=composite, state=state, reason=reason,
        created_by=created_by,
    )


def activate(
    uow: Any, deployment: Any, revision: Any, *, previous_state: str = "superseded"
) -> None:
    """Make ``revision`` the one the deployment serves; the one it replaces leaves."""
    if deployment.current_revision_id and deployment.current_revision_id != revision.id:
        previous = uow.deployment_revisions.get(deployment.current_revision_id)
        previous.state = previous_state
    if deployment.staged_revision_id == revision.id:
        deployment.staged_revision_id = None
    revision.state = "active"
    deployment.current_revision_id = revision.id
    deployment.model_version_id = primary_of(revision).model_version_id
    deployment.updated_at = datetime.now(UTC)


def stage(uow: Any, deployment: Any, revision: Any) -> None:
    """Hold ``revision`` warm for a blue-green switch (replacing any earlier staged one)."""
    if deployment.staged_revision_id and deployment.staged_revision_id != revision.id:
        uow.deployment_revisions.get(deployment.staged_revision_id).state = "superseded"
    revision.state = "staged"
    deployment.staged_revision_id = revision.id
    deployment.updated_at = datetime.now(UTC)


def primary_of(revision: Any) -> VariantSpec:
    return next(s for s in specs_of(revision) if s.role == "primary")


def specs_of(revision: Any) -> list[VariantSpec]:
    return [VariantSpec.of_json(v) for v in revision.variants]
