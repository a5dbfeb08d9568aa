"""The repository of deployments."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from maestro_ml.domain.errors import NotFound

from ..tables import DeploymentRow
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
