"""SQLAlchemy tables; importing this package registers every table on ``Base.metadata``."""

from .audit import AuditEventRow, AuditHeadRow
from .base import Base, TenantScoped, new_id, utcnow
from .deployments import DeploymentRevisionRow, DeploymentRow
from .identity import ApiKeyRow, RefreshTokenRow, TenantRow, UserRow
from .jobs import JobLogRow, JobRow
from .observability import ApiSloBucketRow, DeploymentSloBucketRow, DeploymentSloRow
from .predictions import PredictionFeedbackRow, PredictionLogRow
from .registry import LoggedModelMetricRow, LoggedModelRow, ModelAliasRow, ModelRow, ModelVersionRow
from .tracking import (
    ArtifactRow,
    DatasetRow,
    ExperimentRow,
    LatestMetricRow,
    MetricRow,
    ParamRow,
    RunInputRow,
    RunModelRow,
    RunRow,
    RunTagRow,
)

__all__ = [
    "ApiSloBucketRow", "DeploymentSloBucketRow", "DeploymentSloRow",  # SLO records
    "ApiKeyRow", "ArtifactRow", "AuditEventRow", "AuditHeadRow", "Base", "DatasetRow",
    "DeploymentRevisionRow", "DeploymentRow",  # deployments and their revisions
    "ExperimentRow", "JobLogRow", "JobRow", "LatestMetricRow", "MetricRow",
    "LoggedModelMetricRow", "LoggedModelRow",  # MLflow logged models and their metrics
    "ModelAliasRow", "ModelRow",  # registry
    "ModelVersionRow", "ParamRow", "RefreshTokenRow", "RunInputRow", "RunModelRow", "RunRow",
    "RunTagRow", "TenantRow",
    "TenantScoped", "UserRow", "new_id", "utcnow",
    "PredictionFeedbackRow", "PredictionLogRow",
]
