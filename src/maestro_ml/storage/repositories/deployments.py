"""The repository of deployments."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select

from maestro_ml.domain.errors import NotFound

from ..tables import DeploymentRevisionRow, DeploymentRow
from .base import Page, Repository, escape_like


class DeploymentRepository(Repository[DeploymentRow]):
    row = DeploymentRow
    kind = "deployment"

    def find_by_id_or_name(self, ident: str) -> DeploymentRow | None:
        """The deployment with this id, else the one with this name."""
        if not isinstance(ident, str) or not ident:
            return None
        stmt = select(DeploymentRow).where(
            or_(DeploymentRow.id == ident, DeploymentRow.name == ident)
        )
        found = list(self.session.scalars(stmt))
        by_id = [row for row in found if row.id == ident]
        return (by_id or found or [None])[0]

    def get_by_id_or_name(self, ident: str) -> DeploymentRow:
        found = self.find_by_id_or_name(ident)
        if found is None:
            raise NotFound.of(self.kind, ident)
        return found

    def names_using_model(self, model_id: str) -> list[str]:
        stmt = (
            select(DeploymentRow.name)
            .where(DeploymentRow.model_id == model_id)
            .order_by(DeploymentRow.name)
        )
        return list(self.session.scalars(stmt))

    def names_starting_with(self, prefix: str) -> set[str]:
        stmt = select(DeploymentRow.name).where(
            DeploymentRow.name.like(f"{escape_like(prefix)}%", escape="\\")
        )
        return set(self.session.scalars(stmt))

    def search(
        self, *, limit: int, cursor: str | None = None, model_id: str | None = None,
        environment: str | None = None,
    ) -> Page[DeploymentRow]:
        where: list[Any] = []
        if model_id is not None:
            where.append(DeploymentRow.model_id == model_id)
        if environment is not None:
            where.append(DeploymentRow.environment == environment)
        return self.list(limit=limit, cursor=cursor, where=where)


class DeploymentRevisionRepository(Repository[DeploymentRevisionRow]):
    row = DeploymentRevisionRow
    kind = "deployment revision"

    def of_deployment(self, deployment_id: str) -> list[DeploymentRevisionRow]:
        """Every revision of a deployment, newest first."""
        stmt = (
            select(DeploymentRevisionRow)
            .where(DeploymentRevisionRow.deployment_id == deployment_id)
            .order_by(DeploymentRevisionRow.number.desc())
        )
        return list(self.session.scalars(stmt))

    def by_number(self, deployment_id: str, number: int) -> DeploymentRevisionRow:
        stmt = select(DeploymentRevisionRow).where(
            DeploymentRevisionRow.deployment_id == deployment_id,
            DeploymentRevisionRow.number == number,
        )
        found = self.session.scalars(stmt).first()
        if found is None:
            raise NotFound(f"deployment revision {number} not found")
        return found

    def next_number(self, deployment_id: str) -> int:
        stmt = select(func.max(DeploymentRevisionRow.number)).where(
            DeploymentRevisionRow.deployment_id == deployment_id
        )
        return int(self.session.scalar(stmt) or 0) + 1

    def pending(self, deployment_id: str) -> DeploymentRevisionRow | None:
        stmt = select(DeploymentRevisionRow).where(
            DeploymentRevisionRow.deployment_id == deployment_id,
            DeploymentRevisionRow.state == "pending_approval",
        )
        return self.session.scalars(stmt).first()

    def active_canaries(self) -> list[tuple[str, str, str]]:
        """``(tenant_id, deployment_id, revision_id)`` of every active canary revision."""
        stmt = select(
            DeploymentRevisionRow.tenant_id, DeploymentRevisionRow.deployment_id,
            DeploymentRevisionRow.id,
        ).where(
            DeploymentRevisionRow.state == "active", DeploymentRevisionRow.strategy == "canary"
        )
        return [(t, d, r) for t, d, r in self.session.execute(stmt)]
