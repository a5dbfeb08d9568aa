"""The one wiring point: Settings -> engine -> units of work -> services -> app.

``build_container(settings)`` creates everything a process needs; ``create_app`` (server)
and the CLI commands take what they need from the container. Nothing here runs at import.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine, text

from maestro_ml.auth.rate_limits import RateLimiter
from maestro_ml.auth.tokens import TokenConfig
from maestro_ml.config import Settings
from maestro_ml.jobs.worker import build_worker
from maestro_ml.services.artifacts import RunArtifactService
from maestro_ml.services.audit import AuditService
from maestro_ml.services.datasets import DatasetService
from maestro_ml.services.deployments import DeploymentService
from maestro_ml.services.experiments import ExperimentService
from maestro_ml.services.identity import BootstrapResult, IdentityService
from maestro_ml.services.jobs import JobService
from maestro_ml.services.model_uploads import ModelUploadService
from maestro_ml.services.predictions import PredictionService
from maestro_ml.services.registry import RegistryService
from maestro_ml.services.run_data import RunDataService
from maestro_ml.services.runs import RunService
from maestro_ml.services.training import TrainingService
from maestro_ml.serving.loader import ModelLoader
from maestro_ml.serving.model_cache import ModelCache
from maestro_ml.serving.route_table import RouteTable
from maestro_ml.storage.artifacts import ArtifactStore
from maestro_ml.storage.database import build_engine, build_session_factory
from maestro_ml.storage.migrate import is_current, upgrade
from maestro_ml.storage.remote_files import RemoteFileFetcher
from maestro_ml.storage.unit_of_work import UnitOfWorkFactory

log = logging.getLogger("maestro_ml")


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
    model_cache: ModelCache[Any]
    route_table: RouteTable
    datasets: DatasetService
    jobs: JobService
    training: TrainingService
    model_uploads: ModelUploadService
    rate_limiter: RateLimiter
    audit: AuditService
    background: list[Any] = field(default_factory=list)

    def readiness_checks(self) -> dict[str, dict[str, Any]]:
        checks: dict[str, dict[str, Any]] = {}
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            checks["database"] = {"ok": True}
            checks["migrations"] = {"ok": is_current(self.engine)}
        except Exception as exc:  # any driver failure means "not ready"
            checks["database"] = {"ok": False, "error": type(exc).__name__}
        try:
            self.artifacts.check()
            checks["artifact_store"] = {"ok": True}
        except Exception as exc:
            checks["artifact_store"] = {"ok": False, "error": type(exc).__name__}
        return checks

    def start_background(self) -> None:
        for component in self.background:
            component.start()

    def stop_background(self) -> None:
        for component in reversed(self.background):
            component.stop()

    def close(self) -> None:
        self.stop_background()
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
    loader = ModelLoader(
        artifacts, settings.data_dir.resolve() / "model-cache",
        settings.model_worker_timeout_seconds,
    )
    predictions = PredictionService(
        uow, artifacts, model_cache, loader, route_table, settings.max_batch_rows
    )
    fetcher = RemoteFileFetcher(
        allow_private=settings.fetch_allow_private, timeout_seconds=settings.fetch_timeout_seconds
    )
    datasets = DatasetService(uow, artifacts, settings.max_upload_bytes, fetcher=fetcher)
    container = Container(
        settings=settings, engine=engine, uow=uow, artifacts=artifacts, identity=identity,
        datasets=datasets, jobs=JobService(uow, settings.job_lease_seconds),
        training=TrainingService(uow, artifacts, datasets),
        experiments=ExperimentService(uow), runs=RunService(uow), run_data=RunDataService(uow),
        run_artifacts=RunArtifactService(uow, artifacts, settings.max_upload_bytes),
        registry=RegistryService(uow, artifacts),
        model_uploads=ModelUploadService(uow, artifacts, settings.max_upload_bytes),
        deployments=DeploymentService(uow, artifacts, predictions),
        predictions=predictions, model_cache=model_cache, route_table=route_table,
        rate_limiter=RateLimiter.from_settings(settings),
        audit=AuditService(uow),
    )
    if settings.run_worker:  # started and stopped with the app (create_app's lifespan)
        container.background.append(build_worker(container))
    return container


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
