"""Repositories, one per aggregate, bound to the unit of work's session."""

from __future__ import annotations

from sqlalchemy.orm import Session

from .artifacts import ArtifactRepository
from .audit import AuditRepository
from .base import Page, Repository
from .deployments import DeploymentRepository, DeploymentRevisionRepository
from .identity import ApiKeyRepository, RefreshTokenRepository, TenantRepository, UserRepository
from .jobs import JobRepository
from .predictions import PredictionFeedbackRepository, PredictionLogRepository
from .registry import LoggedModelRepository, ModelRepository, ModelVersionRepository
from .runs import RunRepository
from .slos import SloRecordRepository
from .tracking import DatasetRepository, ExperimentRepository


class Repositories:
    """The repositories a unit of work exposes as attributes."""

    tenant_id: str | None
    tenants: TenantRepository
    users: UserRepository
    api_keys: ApiKeyRepository
    refresh_tokens: RefreshTokenRepository
    datasets: DatasetRepository
    experiments: ExperimentRepository
    runs: RunRepository
    artifacts: ArtifactRepository
    models: ModelRepository
    model_versions: ModelVersionRepository
    logged_models: LoggedModelRepository  # MLflow 3 logged models
    deployments: DeploymentRepository
    deployment_revisions: DeploymentRevisionRepository
    jobs: JobRepository
    predictions: PredictionLogRepository
    prediction_feedback: PredictionFeedbackRepository
    audit: AuditRepository
    slos: SloRecordRepository

    def bind_repositories(self, session: Session) -> None:
        self.tenants = TenantRepository(session, self.tenant_id)
        self.users = UserRepository(session)
        self.api_keys = ApiKeyRepository(session)
        self.refresh_tokens = RefreshTokenRepository(session)
        self.datasets = DatasetRepository(session)
        self.experiments = ExperimentRepository(session)
        self.runs = RunRepository(session)
        self.artifacts = ArtifactRepository(session)
        self.models = ModelRepository(session)
        self.model_versions = ModelVersionRepository(session)
        self.logged_models = LoggedModelRepository(session)
        self.deployments = DeploymentRepository(session)
        self.deployment_revisions = DeploymentRevisionRepository(session)
        self.jobs = JobRepository(session)
        self.predictions = PredictionLogRepository(session)
        self.prediction_feedback = PredictionFeedbackRepository(session)
        self.audit = AuditRepository(session)
        self.slos = SloRecordRepository(session)


__all__ = ["Page", "Repositories", "Repository"]
