"""The repositories of the prediction log and of feedback on logged predictions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select

from ..tables import PredictionFeedbackRow, PredictionLogRow
from .base import Repository


class PredictionLogRepository(Repository[PredictionLogRow]):
    row = PredictionLogRow
    kind = "prediction"

    def add_records(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert many log rows in one statement (each carries its own tenant_id)."""
        if rows:
            self.session.execute(insert(PredictionLogRow), list(rows))

    def delete_created_before(self, cutoff: datetime) -> int:
        """Delete log rows (and their feedback) created before ``cutoff``; how many went."""
        old = select(PredictionLogRow.id).where(PredictionLogRow.created_at < cutoff)
        self.session.execute(
            delete(PredictionFeedbackRow).where(PredictionFeedbackRow.prediction_id.in_(old)),
            execution_options={"synchronize_session": False},
        )
        result = self.session.execute(
            delete(PredictionLogRow).where(PredictionLogRow.created_at < cutoff),
            execution_options={"synchronize_session": False},
        )
        return int(getattr(result, "rowcount", 0) or 0)


class PredictionFeedbackRepository(Repository[PredictionFeedbackRow]):
    row = PredictionFeedbackRow
    kind = "prediction feedback"

    def find_for(self, prediction_id: str) -> PredictionFeedbackRow | None:
        stmt = select(PredictionFeedbackRow).where(
            PredictionFeedbackRow.prediction_id == prediction_id
        )
        return self.session.scalars(stmt).first()

    def outcomes(
        self, deployment_id: str, limit: int, revision: int | None = None
    ) -> list[tuple[str, str, list[Any], dict[str, Any]]]:
        """(variant, kind, truths, outputs) of the deployment's newest ``limit`` feedbacks,
        of predictions served by ``revision`` when given."""
        where = [PredictionFeedbackRow.deployment_id == deployment_id]
        if revision is not None:
            where.append(PredictionLogRow.revision == revision)
        stmt = (
            select(
                PredictionFeedbackRow.variant, PredictionFeedbackRow.kind,
                PredictionFeedbackRow.truths, PredictionLogRow.outputs,
            )
            .join(PredictionLogRow, PredictionLogRow.id == PredictionFeedbackRow.prediction_id)
            .where(*where)
            .order_by(PredictionFeedbackRow.created_at.desc())
            .limit(limit)
        )
        return [(v, k, t, o) for v, k, t, o in self.session.execute(stmt)]
