"""The predict use case: deployment -> route -> variant -> checked rows -> cached model.

On the hot path nothing touches the database: the route (the active revision's variants)
comes from the in-memory route table and the models from the model cache. A miss resolves
the deployment once in the caller's tenant (another tenant's deployment is simply not
found) and loads the versions' files through the loader, once however many requests
arrive together.

After the answer is computed, and without waiting for anything: the variant's counters are
updated (they drive canary decisions), shadow variants get a copy of the rows through the
shadow queue, and the prediction goes to the prediction log (sampled).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from maestro_ml.auth.principal import Principal
from maestro_ml.domain.errors import InvalidInput, NotFound
from maestro_ml.domain.routing import choose
from maestro_ml.domain.signature import (
    SignatureValidator,
    rows_from_payload,
    validate_rows,
    validator_for_json,
)
from maestro_ml.ml.model_formats import pickle_policy_error
from maestro_ml.ml.model_io import LoadedModel, PredictionOutput
from maestro_ml.observability.metrics import observe_prediction
from maestro_ml.serving.executor import ModelExecutor
from maestro_ml.serving.loader import ModelLoader
from maestro_ml.serving.model_cache import ModelCache
from maestro_ml.serving.prediction_log import PredictionLog, PredictionRecord, new_prediction_id
from maestro_ml.serving.route_table import Route, RouteTable, RouteVariant
from maestro_ml.serving.shadow import ShadowJob, ShadowRunner
from maestro_ml.serving.variant_stats import VariantStats

from .ensembles import load_composite
from .ports import ArtifactStore, UnitOfWorkFactory
from .serving_routes import build_route

log = logging.getLogger("maestro_ml.serving")


@dataclass(frozen=True)
class Prediction:
    deployment: str
    model_version: int
    predictions: list[Any]
    probabilities: list[list[float]] | None
    classes: list[Any] | None
    prediction_id: str = ""
    variant: str = "primary"
    revision: int | None = None


def validator_for(signature: Mapping[str, Any] | None) -> SignatureValidator | None:
    """The shared validator of a stored signature, or None when it declares no inputs."""
    if not signature or not signature.get("inputs"):
        return None
    return validator_for_json(json.dumps(signature, sort_keys=True))


class PredictionService:
    def __init__(
        self, uow: UnitOfWorkFactory, artifacts: ArtifactStore,
        model_cache: ModelCache[LoadedModel], loader: ModelLoader, route_table: RouteTable,
        max_rows: int, executor: ModelExecutor | None = None,
        prediction_log: PredictionLog | None = None, shadow: ShadowRunner | None = None,
        variant_stats: VariantStats | None = None,
    ) -> None:
        self._executor = executor or ModelExecutor(batching=False)
        self._uow = uow
        self._artifacts = artifacts
        self._cache = model_cache
        self._loader = loader
        self._routes = route_table
        self._refresher = ThreadPoolExecutor(1, thread_name_prefix="maestro-route-refresh")
        self._max_rows = max_rows
        self.prediction_log = prediction_log
        self.shadow = shadow or ShadowRunner()
        self.variant_stats = variant_stats or VariantStats()
        self._random = random.Random()  # noqa: S311 - traffic split, not security

    def predict(
        self, principal: Principal, id_or_name: str, payload: Any,
        routing_key: str | None = None,
    ) -> Prediction:
        """Predict the rows of a request body with the variant the traffic split picks.

        >>> service.predict(p, "churn-production", {"features": {"tenure": 12}})  # doctest: +SKIP
        Prediction(deployment='churn-production', model_version=3, predictions=['no'], ...)
        """
        route = self.route(principal.tenant_id, id_or_name)
        rows = rows_from_payload(payload, self._max_rows)
        return self._serve(route, self._pick(route, routing_key, None), rows)

    def predict_rows(
        self, principal: Principal, id_or_name: str, rows: list[dict[str, Any]],
        routing_key: str | None = None, version: int | None = None,
    ) -> Prediction:
        """Predict already-parsed rows; ``version`` pins the variant serving that version."""
        route = self.route(principal.tenant_id, id_or_name)
        if len(rows) > self._max_rows:
            raise InvalidInput(f"at most {self._max_rows} rows per request", field="rows")
        return self._serve(route, self._pick(route, routing_key, version), rows)

    def route(self, tenant_id: str, id_or_name: str) -> Route:
        """The deployment's route: from the table, or resolved in the tenant and cached."""
        cached = self._routes.get(tenant_id, id_or_name)
        if cached is not None:
            if self._routes.claim_refresh(tenant_id, id_or_name):  # due: rebuilt off-path
                self._refresher.submit(self._refresh_route, tenant_id, id_or_name)
            return cached
        return self._load_route(tenant_id, id_or_name)

    def _load_route(self, tenant_id: str, id_or_name: str) -> Route:
        with self._uow.for_tenant(tenant_id, write=False) as uow:
            route = build_route(uow, self._artifacts, tenant_id, id_or_name, validator_for)
        self._routes.put(route)
        return route

    def _refresh_route(self, tenant_id: str, id_or_name: str) -> None:
        try:
            self._load_route(tenant_id, id_or_name)
        except NotFound:  # deleted meanwhile: its requests get their 404 from now on
            self._routes.discard(tenant_id, id_or_name, broadcast=False)
        except Exception:  # the entry lapses at its expiry and the next request reloads it
            log.warning("could not refresh the route of %s", id_or_name, exc_info=True)

    def forget_route(self, tenant_id: str, deployment_id: str, name: str | None = None) -> None:
        """Drop the cached route of a deployment that changed, so the next call re-reads it."""
        self._routes.invalidate(tenant_id, deployment_id)
        if name is not None:
            self._routes.discard(tenant_id, name)

    def model_for(self, route: Route, variant: RouteVariant | None = None) -> Any:
        """The model serving ``variant`` (the primary by default) of ``route``."""
        if route.composite is not None:
            return self._cache.get(
                f"composite:{route.revision_id}",
                lambda: load_composite(
                    route.tenant_id, route.composite["kind"], route.composite["config"],
                    lambda version_id, key: self.load_version(version_id, key, route.tenant_id),
                    self._artifacts,
                ),
            )
        if variant is None:
            return self.load_version(route.model_version_id, route.artifact_key, route.tenant_id)
        return self.load_version(variant.model_version_id, variant.artifact_key, route.tenant_id)

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

    # -- internals ------------------------------------------------------------------------
    def _pick(self, route: Route, routing_key: str | None, version: int | None) -> RouteVariant:
        variants = route.variants
        if version is not None:
            for variant in variants:
                if variant.version == version:
                    return variant
            raise NotFound(
                f"deployment '{route.deployment_name}' serves no variant of version {version}",
                kind="model version",
            )
        if len(variants) == 1:
            return variants[0]
        name = choose(route.weights, routing_key, self._random)
        return next(v for v in variants if v.name == name)

    def _serve(
        self, route: Route, variant: RouteVariant, rows: list[dict[str, Any]]
    ) -> Prediction:
        rows = variant.validator.validate(rows) if variant.validator else validate_rows(rows, None)
        started = time.perf_counter()
        try:
            model = self.model_for(route, variant)
            key = variant.model_version_id if route.composite is None else (
                f"composite:{route.revision_id}"
            )
            output = self._executor.run(key, model, rows)
        except Exception as exc:
            self._count(route, variant, time.perf_counter() - started, len(rows), ok=False)
            if isinstance(exc, ValueError | TypeError):
                # What the model's libraries raise for values they cannot use.
                raise InvalidInput(f"the model could not predict these rows: {exc}") from exc
            raise
        seconds = time.perf_counter() - started
        self._count(route, variant, seconds, len(rows), ok=True)
        if route.shadows:
            self._copy_to_shadows(route, rows, output, seconds)
        prediction_id = new_prediction_id()
        if self.prediction_log is not None:
            self.prediction_log.record(
                PredictionRecord(
                    id=prediction_id, tenant_id=route.tenant_id,
                    deployment_id=route.deployment_id, variant=variant.name,
                    model_version_id=variant.model_version_id,
                    outputs={"predictions": output.predictions,
                             "probabilities": output.probabilities},
                    latency_ms=seconds * 1000.0, revision=route.revision, inputs=rows,
                ),
                route.log_sample_rate, keep=route.keep_prediction_ids,
            )
        return Prediction(
            deployment=route.deployment_name, model_version=variant.version,
            predictions=output.predictions, probabilities=output.probabilities,
            classes=output.classes, prediction_id=prediction_id, variant=variant.name,
            revision=route.revision,
        )

    def _count(
        self, route: Route, variant: RouteVariant, seconds: float, rows: int, *, ok: bool
    ) -> None:
        if route.revision_id is not None:
            self.variant_stats.record(route.revision_id, variant.name, seconds, ok)
        observe_prediction(
            route.deployment_name, variant.name, seconds, rows, "ok" if ok else "error"
        )

    def _copy_to_shadows(
        self, route: Route, rows: list[dict[str, Any]], output: PredictionOutput,
        seconds: float,
    ) -> None:
        for shadow in route.shadows:
            if route.shadow_sample_rate < 1.0 and self._random.random() >= route.shadow_sample_rate:
                continue
            self.shadow.submit(ShadowJob(
                tenant_id=route.tenant_id, deployment_id=route.deployment_id,
                deployment_name=route.deployment_name, variant=shadow.name,
                run=self._shadow_call(route, shadow), rows=list(rows), primary=output,
                primary_seconds=seconds, tolerance=route.shadow_tolerance,
            ))

    def _shadow_call(self, route: Route, shadow: RouteVariant) -> Any:
        def run(rows: list[dict[str, Any]]) -> PredictionOutput:
            checked = shadow.validator.validate(rows) if shadow.validator else rows
            model = self.load_version(shadow.model_version_id, shadow.artifact_key, route.tenant_id)
            return model.predict(checked)  # type: ignore[no-any-return]

        return run
