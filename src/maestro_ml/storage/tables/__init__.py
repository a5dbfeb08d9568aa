"""SQLAlchemy tables; importing this package registers every table on ``Base.metadata``."""

from .audit import AuditEventRow, AuditHeadRow
from .base import Base, TenantScoped, new_id, utcnow
from .deployments import DeploymentRow
from .identity import ApiKeyRow, RefreshTokenRow, TenantRow, UserRow
from .jobs import JobLogRow, JobRow
from .registry import ModelAliasRow, ModelRow, ModelVersionRow
from .tracking import (
    ArtifactRow,
    DatasetRow,
    ExperimentRow,
    LatestMetricRow,
    MetricRow,
    ParamRow,
    RunRow,
    RunTagRow,
)

__all__ = [
    "ApiKeyRow", "ArtifactRow", "AuditEventRow", "AuditHeadRow", "Base", "DatasetRow",
    "DeploymentRow", "ExperimentRow", "JobLogRow", "JobRow", "LatestMetricRow", "MetricRow",
    "ModelAliasRow", "ModelRow",
    "ModelVersionRow", "ParamRow", "RefreshTokenRow", "RunRow", "RunTagRow", "TenantRow",
    "TenantScoped", "UserRow", "new_id", "utcnow",
]
