"""The predict use case: deployment -> route -> checked rows -> cached model -> predictions.

On the hot path nothing touches the database: the route comes from the in-memory route
table and the model from the model cache. A miss resolves the deployment once in the
caller's tenant (another tenant's deployment is simply not found) and loads the version's
files through the loader, once however many requests arrive together.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from maestro_ml.auth.principal import Principal
from maestro_ml.domain.errors import InvalidInput
from maestro_ml.domain.signature import (
    SignatureValidator,
    rows_from_payload,
    validate_rows,
    validator_for_json,
)
from maestro_ml.ml.model_formats import pickle_policy_error
from maestro_ml.ml.model_io import LoadedModel
from maestro_ml.serving.loader import ModelLoader
from maestro_ml.serving.model_cache import ModelCache
from maestro_ml.serving.route_table import Route, RouteTable

from .ports import ArtifactStore, UnitOfWorkFactory


@dataclass(frozen=True)
class Prediction:
    deployment: str
    model_version: int
    predictions: list[Any]
    probabilities: list[list[float]] | None
    classes: list[Any] | None


def validator_for(signature: Mapping[str, Any] | None) -> SignatureValidator | None:
    """The shared validator of a stored signature, or None when it declares no inputs."""
    if not signature or not signature.get("inputs"):
        return None
    return validator_for_json(json.dumps(signature, sort_keys=True))


class PredictionService:
    def __init__(
        self, uow: UnitOfWorkFactory, artifacts: ArtifactStore,
        model_cache: ModelCache[LoadedModel], loader: ModelLoader, route_table: RouteTable,
        max_rows: int,
    ) -> None:
        self._uow = uow
        self._artifacts = artifacts
        self._cache = model_cache
        self._loader = loader
        self._routes = route_table
        self._max_rows = max_rows

    def predict(self, principal: Principal, id_or_name: str, payload: Any) -> Prediction:
        """Predict the rows of a request body with the deployment's current model version.

        >>> service.predict(p, "churn-production", {"features": {"tenure": 12}})  # doctest: +SKIP
        Prediction(deployment='churn-production', model_version=3, predictions=['no'], ...)
        """
        route = self.route(principal.tenant_id, id_or_name)
        rows = rows_from_payload(payload, self._max_rows)
        rows = route.validator.validate(rows) if route.validator else validate_rows(rows, None)
        model = self.model_for(route)
        try:
            output = model.predict(rows)
        except (ValueError, TypeError) as exc:
            # What the model's libraries raise for values they cannot use.
            raise InvalidInput(f"the model could not predict these rows: {exc}") from exc
        return Prediction(
            deployment=route.deployment_name, model_version=route.version,
            predictions=output.predictions, probabilities=output.probabilities,
            classes=output.classes,
        )

    def route(self, tenant_id: str, id_or_name: str) -> Route:
        """The deployment's route: from the table, or resolved in the tenant and cached."""
        cached = self._routes.get(tenant_id, id_or_name)
        if cached is not None:
            return cached
        with self._uow.for_tenant(tenant_id, write=False) as uow:
            deployment = uow.deployments.get_by_id_or_name(id_or_name)
            version = uow.model_versions.get(deployment.model_version_id)
        route = Route(
            tenant_id=tenant_id,
            deployment_id=deployment.id,
            deployment_name=deployment.name,
            model_id=deployment.model_id,
            model_version_id=version.id,
            version=version.version,
            artifact_key=self._artifacts.tenant_key(tenant_id, version.artifact_key),
            validator=validator_for(version.signature),
        )
        self._routes.put(route)
        return route

    def forget_route(self, tenant_id: str, deployment_id: str, name: str | None = None) -> None:
        """Drop the cached route of a deployment that changed, so the next call re-reads it."""
        self._routes.invalidate(tenant_id, deployment_id)
        if name is not None:
            self._routes.discard(tenant_id, name)

    def model_for(self, route: Route) -> LoadedModel:
        return self.load_version(route.model_version_id, route.artifact_key, route.tenant_id)

    def load_version(
        self, version_id: str, artifact_key: str, tenant_id: str | None = None
    ) -> LoadedModel:
        """The loaded model of a version (full store key), from the cache or loaded into it.

        A pickle-based version loads (in an isolated worker) only when ``tenant_id``'s policy
        allows pickle models; the policy is read on a cache miss, never per request.
        """

        def check_pickle_allowed() -> None:
            if tenant_id is None or not self.pickle_allowed(tenant_id):
                raise pickle_policy_error(tenant_id or "{tenant_id}")

        return self._cache.get(
            version_id, lambda: self._loader.load(artifact_key, version_id, check_pickle_allowed)
        )

    def pickle_allowed(self, tenant_id: str) -> bool:
        """Whether the tenant admin allowed pickle-based models (``allow_pickle_models``)."""
        with self._uow.for_tenant(tenant_id, write=False) as uow:
            settings = uow.tenants.get(tenant_id).settings or {}
        return settings.get("allow_pickle_models") is True
