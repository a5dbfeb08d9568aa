"""The one wiring point: Settings -> engine -> units of work -> services -> app.

``build_container(settings)`` creates everything a process needs; ``create_app`` (server)
and the CLI commands take what they need from the container. Nothing here runs at import.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine

from maestro_ml.auth.rate_limits import RateLimiter
from maestro_ml.auth.tokens import TokenConfig
from maestro_ml.config import Settings
from maestro_ml.domain.slo import SloDefaults
from maestro_ml.jobs.worker import build_worker
from maestro_ml.observability.business import BusinessCollector
from maestro_ml.observability.metrics import (
    declare_rate_limit_tiers,
    install_metrics,
    register_collector,
    unregister_collector,
)
from maestro_ml.observability.service_spans import traced
from maestro_ml.observability.slo_recorder import SloRecorder
from maestro_ml.observability.tracing import configure_tracing, instrument_engine
from maestro_ml.services.ab_tests import AbTestService
from maestro_ml.services.artifacts import RunArtifactService
from maestro_ml.services.audit import AuditService
from maestro_ml.services.datasets import DatasetService
from maestro_ml.services.deployments import DeploymentService
from maestro_ml.services.ensembles import EnsembleService
from maestro_ml.services.experiments import ExperimentService
from maestro_ml.services.feedback import FeedbackService
from maestro_ml.services.identity import BootstrapResult, IdentityService
from maestro_ml.services.jobs import JobService
from maestro_ml.services.logged_models import LoggedModelService  # MLflow logged models
from maestro_ml.services.model_uploads import ModelUploadService
from maestro_ml.services.predictions import PredictionService
from maestro_ml.services.registry import RegistryService
from maestro_ml.services.registry_search import RegistrySearch  # MLflow registry
from maestro_ml.services.registry_sources import SourceRegistrationService
from maestro_ml.services.rollouts import CanaryEvaluator, RolloutService
from maestro_ml.services.run_data import RunDataService
from maestro_ml.services.runs import RunService
from maestro_ml.services.slo_records import SloFlusher
from maestro_ml.services.slos import SloService
from maestro_ml.services.training import TrainingService
from maestro_ml.serving.executor import ModelExecutor
from maestro_ml.serving.loader import ModelLoader
from maestro_ml.serving.model_cache import ModelCache
from maestro_ml.serving.prediction_log import PredictionLog, PredictionLogCollector
from maestro_ml.serving.route_invalidation import RedisRouteInvalidation
from maestro_ml.serving.route_table import RouteTable
from maestro_ml.serving.shadow import ShadowRunner
from maestro_ml.serving.variant_stats import VariantStats
from maestro_ml.storage.artifacts import ArtifactStore
from maestro_ml.storage.database import build_engine, build_session_factory
from maestro_ml.storage.migrate import upgrade
from maestro_ml.storage.platform_counts import read_platform_counts
from maestro_ml.storage.readiness import readiness_checks
from maestro_ml.storage.remote_files import RemoteFileFetcher
from maestro_ml.storage.unit_of_work import UnitOfWorkFactory

log = logging.getLogger("maestro_ml")

TRACED_SERVICES = (
    "experiments", "runs", "run_data", "run_artifacts", "registry", "deployments",
    "predictions", "datasets", "model_uploads",
)


@dataclass
class Container:
    """Everything a process wires together, built from one ``Settings``."""

    settings: Settings
    engine: Engine
    uow: UnitOfWorkFactory
    artifacts: ArtifactStore
    identity: IdentityService
    experiments: ExperimentService
    runs: RunService
    run_data: RunDataService
    run_artifacts: RunArtifactService
    registry: RegistryService
    deployments: DeploymentService
    predictions: PredictionService
    rollouts: RolloutService
    model_cache: ModelCache[Any]
    route_table: RouteTable
    datasets: DatasetService
    jobs: JobService
    training: TrainingService
    model_uploads: ModelUploadService
    rate_limiter: RateLimiter
    audit: AuditService
    slos: SloService  # SLOs: computed on read from the request records
    slo_recorder: SloRecorder
    slo_flusher: SloFlusher
    # Prediction log, feedback, A/B reports, ensemble meta-models.
    prediction_log: PredictionLog
    feedback: FeedbackService
    ab_tests: AbTestService
    ensembles: EnsembleService
    # MLflow registry: search, versions registered from MLflow sources, logged models.
    registry_search: RegistrySearch
    registry_sources: SourceRegistrationService
    logged_models: LoggedModelService
    background: list[Any] = field(default_factory=list)
    # Scrape-time collectors over this container's state (business gauges, prediction log).
    collectors: list[Any] = field(default_factory=list)

    def readiness_checks(self) -> dict[str, dict[str, Any]]:
        """Database, migrations, artifact store and Redis (when configured), each timed."""
        return readiness_checks(self.engine, self.artifacts.check, self.settings.redis_url)

    def start_background(self) -> None:
        for component in self.background:
            component.start()

    def stop_background(self) -> None:
        for component in reversed(self.background):
            component.stop()

    def close(self) -> None:
        self.stop_background()
        for collector in self.collectors:  # scrapes must not read a closed engine
            unregister_collector(collector)
        self.engine.dispose()


def build_container(settings: Settings, *, migrate: bool = True) -> Container:
    settings.ensure_data_dir()
    engine = build_engine(settings.resolved_database_url, settings.db_pool_size)
    if migrate:
        upgrade(engine)
    uow = UnitOfWorkFactory(build_session_factory(engine))
    secret = settings.resolved_secret_key()
    jwt_secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else secret
    tokens = TokenConfig(
        secret=jwt_secret,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        access_ttl_seconds=settings.access_token_ttl_seconds,
        previous_secrets=tuple(s.get_secret_value() for s in settings.jwt_previous_secrets),
    )
    identity = IdentityService(
        uow, tokens, secret, settings.refresh_token_ttl_seconds, settings.api_key_cache_seconds
    )
    artifacts = ArtifactStore(settings.resolved_artifact_root)
    model_cache: ModelCache[Any] = ModelCache(settings.model_cache_bytes)
    route_table = RouteTable(settings.route_table_ttl_seconds)
    route_invalidation = (  # cross-replica route invalidation
        RedisRouteInvalidation(settings.redis_url, route_table, settings.route_invalidation_channel)
        if settings.redis_url else None
    )
    prediction_log = PredictionLog.from_settings(uow, settings)  # written in the background
    loader = ModelLoader(
        artifacts, settings.data_dir.resolve() / "model-cache",
        settings.model_worker_timeout_seconds, compile_onnx=settings.serving_compile_onnx,
    )
    executor = ModelExecutor(  # micro-batching
        batching=settings.serving_batching, max_batch_rows=settings.serving_batch_max_rows,
        threads=settings.serving_model_threads,
    )
    predictions = PredictionService(
        uow, artifacts, model_cache, loader, route_table, settings.max_batch_rows,
        executor=executor,
        prediction_log=prediction_log,  # deployment variants: log, shadows, canary counters
        shadow=ShadowRunner(settings.shadow_queue_size), variant_stats=VariantStats(),
    )
    deployments = DeploymentService(uow, artifacts, predictions)
    fetcher = RemoteFileFetcher(
        allow_private=settings.fetch_allow_private, timeout_seconds=settings.fetch_timeout_seconds
    )
    datasets = DatasetService(uow, artifacts, settings.max_upload_bytes, fetcher=fetcher)
    container = Container(
        prediction_log=prediction_log, feedback=FeedbackService(uow, prediction_log),
        ab_tests=AbTestService(uow, settings.ab_test_min_samples, settings.ab_test_alpha),
        ensembles=EnsembleService(uow, artifacts, datasets, predictions.load_version),
        settings=settings, engine=engine, uow=uow, artifacts=artifacts, identity=identity,
        datasets=datasets, jobs=JobService(uow, settings.job_lease_seconds),
        training=TrainingService(uow, artifacts, datasets),
        experiments=ExperimentService(uow), runs=RunService(uow), run_data=RunDataService(uow),
        run_artifacts=RunArtifactService(uow, artifacts, settings.max_upload_bytes),
        registry=RegistryService(uow, artifacts),
        registry_search=RegistrySearch(uow),  # MLflow registry
        registry_sources=SourceRegistrationService(uow, artifacts),
        logged_models=LoggedModelService(uow, artifacts),
        model_uploads=ModelUploadService(uow, artifacts, settings.max_upload_bytes),
        deployments=deployments,
        rollouts=RolloutService(uow, deployments, predictions),
        predictions=predictions, model_cache=model_cache, route_table=route_table,
        rate_limiter=RateLimiter.from_settings(settings),
        audit=AuditService(uow),
        **build_slo_parts(settings, uow),
    )
    container.background.append(prediction_log)  # stopped last: flushes what is queued
    container.background.append(container.audit)  # audit group commits: drained at shutdown
    # Deployment rollouts: canary evaluation and the shadow worker.
    container.background.append(
        CanaryEvaluator(container.rollouts, settings.canary_evaluation_seconds)
    )
    container.background.append(predictions.shadow)
    if settings.slo_enabled:  # request records reach the database every few seconds
        container.background.append(container.slo_flusher)
    if route_invalidation is not None:  # its subscriber runs with the app
        container.background.append(route_invalidation)
    if settings.run_worker:  # started and stopped with the app (create_app's lifespan)
        container.background.append(build_worker(container))
    container.collectors.extend(install_observability(settings, engine))
    declare_rate_limit_tiers(container.rate_limiter.tiers)  # no-op without metrics
    prediction_gauges = PredictionLogCollector(prediction_log)
    register_collector(prediction_gauges)  # no-op without metrics
    container.collectors.append(prediction_gauges)
    for name in TRACED_SERVICES:  # a span per service call, only when tracing is on
        setattr(container, name, traced(getattr(container, name), name))
    return container


def install_observability(settings: Settings, engine: Engine) -> list[Any]:
    """Metrics (with the business gauges over ``engine``) and tracing, as settings say;
    the scrape-time collectors it registered."""
    collectors: list[Any] = []
    if settings.metrics_enabled:  # disabled: the app counts nothing (create_app)
        install_metrics(settings.metrics_latency_buckets)
        collectors.append(BusinessCollector(
            lambda: read_platform_counts(engine), settings.metrics_business_cache_seconds
        ))
        register_collector(collectors[-1])
    if settings.tracing_exporter is not None:  # unset leaves the process's tracing alone
        configure_tracing(settings.tracing_exporter)
    instrument_engine(engine)  # database spans, when tracing is on
    return collectors


def build_slo_parts(settings: Settings, uow: UnitOfWorkFactory) -> dict[str, Any]:
    """The SLO service, the request recorder and its flusher."""
    slos = SloService(uow, SloDefaults.from_settings(settings))
    recorder = SloRecorder(
        settings.slo_api_latency_threshold_seconds,
        settings.slo_deployment_latency_threshold_seconds,
    )
    flusher = SloFlusher(
        uow, recorder, interval_seconds=settings.slo_flush_seconds,
        retention_days=settings.slo_window_days, thresholds=slos.latency_thresholds,
    )
    return {"slos": slos, "slo_recorder": recorder, "slo_flusher": flusher}


def bootstrap_admin(container: Container) -> BootstrapResult:
    settings = container.settings
    password = settings.bootstrap_admin_password
    return container.identity.bootstrap_admin(
        settings.bootstrap_admin_email, password.get_secret_value() if password else None
    )


def build_app(settings: Settings) -> FastAPI:
    from maestro_ml.api.app import create_app

    container = build_container(settings)
    return create_app(container)
