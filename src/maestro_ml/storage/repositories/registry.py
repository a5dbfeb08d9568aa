"""Repositories of models, model versions and deployments."""

from __future__ import annotations

from sqlalchemy import func, select

from ..tables import DeploymentRow, ModelRow, ModelVersionRow
from .base import Repository


class ModelRepository(Repository[ModelRow]):
    row = ModelRow
    kind = "model"


class ModelVersionRepository(Repository[ModelVersionRow]):
    row = ModelVersionRow
    kind = "model version"

    def next_version(self, model_id: str) -> int:
        stmt = select(func.max(ModelVersionRow.version)).where(
            ModelVersionRow.model_id == model_id
        )
        return int(self.session.scalar(stmt) or 0) + 1


class DeploymentRepository(Repository[DeploymentRow]):
    row = DeploymentRow
    kind = "deployment"
