"""Building a deployment's route (what the predict path serves) from its active revision.

A deployment serves its ``current_revision_id``. One whose first revision still waits for
approval has none and answers 409. Rows from before revisions existed (no revision at
all) serve their ``model_version_id`` as a single primary variant.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from maestro_ml.domain.errors import Conflict
from maestro_ml.domain.rollout import VariantSpec
from maestro_ml.serving.route_table import Route, RouteVariant

from .ports import ArtifactStore

DEFAULT_SHADOW_TOLERANCE = 1e-6
# Serving order: the canary first so that, as its weight grows, sticky keys only move to it.
_ORDER = {"canary": 0, "challenger": 1, "primary": 2}


def build_route(
    uow: Any, artifacts: ArtifactStore, tenant_id: str, id_or_name: str,
    validator_for: Callable[[Any], Any],
) -> Route:
    deployment = uow.deployments.get_by_id_or_name(id_or_name)
    revision = None
    if deployment.current_revision_id is not None:
        revision = uow.deployment_revisions.get(deployment.current_revision_id)
    elif uow.deployment_revisions.pending(deployment.id) is not None:
        raise Conflict(
            f"deployment '{deployment.name}' has no approved revision yet: a user holding "
            "deployments:approve must approve its pending revision first"
        )
    if revision is None:
        version = uow.model_versions.get(deployment.model_version_id)
        specs = [VariantSpec("primary", version.id, version.version, "primary", 100.0)]
        settings: dict[str, Any] = {}
    else:
        specs = [VariantSpec.of_json(v) for v in revision.variants]
        settings = revision.settings or {}

    def variant(spec: VariantSpec) -> RouteVariant:
        version = uow.model_versions.get(spec.model_version_id)
        return RouteVariant(
            name=spec.name, role=spec.role, weight=spec.weight, model_version_id=version.id,
            version=version.version,
            artifact_key=artifacts.tenant_key(tenant_id, version.artifact_key),
            validator=validator_for(version.signature),
        )

    serving = sorted(
        (variant(s) for s in specs if s.role != "shadow"), key=lambda v: _ORDER[v.role]
    )
    shadows = tuple(variant(s) for s in specs if s.role == "shadow")
    primary = next(v for v in serving if v.role == "primary")
    composite = None
    if revision is not None and revision.kind != "single" and revision.composite:
        composite = {"kind": revision.kind, "config": revision.composite}
    return Route(
        tenant_id=tenant_id, deployment_id=deployment.id, deployment_name=deployment.name,
        model_id=deployment.model_id, model_version_id=primary.model_version_id,
        version=primary.version, artifact_key=primary.artifact_key,
        validator=primary.validator,
        revision_id=revision.id if revision is not None else None,
        revision=revision.number if revision is not None else None,
        kind=revision.kind if revision is not None else "single",
        variants=tuple(v for v in serving if v.weight > 0 or v.role == "primary"),
        shadows=shadows,
        weights=tuple((v.name, v.weight) for v in serving if v.weight > 0),
        composite=composite,
        log_sample_rate=float(settings.get("log_sample_rate", 0.0)),
        shadow_sample_rate=float(settings.get("shadow_sample_rate", 1.0)),
        shadow_tolerance=float(settings.get("shadow_tolerance", DEFAULT_SHADOW_TOLERANCE)),
        keep_prediction_ids=revision is not None and revision.strategy == "ab_test",
    )
