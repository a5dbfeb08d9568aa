"""Logged predictions and the ground truth users feed back for them, by prediction id.

Feedback is given once per prediction: a second attempt is a Conflict (409), so an A/B
report can never count one prediction twice; the first answer stands. A prediction not in
the log (unknown id, another tenant's, or not sampled) is NotFound with the same message in
every case, so the answer reveals nothing about other tenants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from maestro_ml.auth.principal import Principal
from maestro_ml.domain.errors import Conflict, InvalidInput, NotFound

from .ports import UnitOfWorkFactory

LABEL = "label"
VALUE = "value"
_FLUSH_WAIT_SECONDS = 5.0


class PendingLog(Protocol):
    """The local prediction log, flushed when feedback arrives before its record is written."""

    @property
    def pending(self) -> int: ...
    def flush(self, timeout: float = ...) -> bool: ...


@dataclass(frozen=True)
class FeedbackView:
    prediction_id: str
    kind: str
    truths: list[Any]
    created_by: str | None
    created_at: datetime


@dataclass(frozen=True)
class PredictionView:
    id: str
    deployment_id: str
    revision: int | None
    variant: str
    model_version_id: str | None
    inputs: list[Any] | None
    outputs: dict[str, Any]
    row_count: int
    latency_ms: float
    created_at: datetime
    feedback: FeedbackView | None


def not_logged(prediction_id: str) -> NotFound:
    return NotFound(
        f"prediction '{prediction_id}' was not logged: the id is unknown, or the prediction "
        "was not sampled; raise the deployment's prediction-log sample rate to keep more",
        kind="prediction",
    )


class FeedbackService:
    def __init__(self, uow: UnitOfWorkFactory, prediction_log: PendingLog | None = None) -> None:
        self._uow = uow
        self._log = prediction_log

    def get_prediction(self, principal: Principal, prediction_id: str) -> PredictionView:
        self._await_record(principal.tenant_id, prediction_id)
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            row = self._find(uow, prediction_id)
            feedback = uow.prediction_feedback.find_for(row.id)
            return _view(row, feedback)

    def record_feedback(
        self, principal: Principal, prediction_id: str, *, label: Any = None,
        value: Any = None, has_label: bool = False, has_value: bool = False,
    ) -> FeedbackView:
        """Store the true label(s) (classifiers) or value(s) (regressors) of a prediction.

        A prediction of n rows takes a list of n truths; a one-row prediction also takes a
        single one.
        """
        self._await_record(principal.tenant_id, prediction_id)
        with self._uow.for_tenant(principal.tenant_id) as uow:
            row = self._find(uow, prediction_id)
            if has_label == has_value:
                raise InvalidInput(
                    "send exactly one of 'label' (classifiers) or 'value' (regressors)"
                )
            if uow.prediction_feedback.find_for(row.id) is not None:
                raise Conflict(
                    f"feedback for prediction '{row.id}' was already given; the first answer "
                    "stands", kind="prediction feedback",
                )
            kind = LABEL if has_label else VALUE
            truths = _truths(kind, label if has_label else value, row.row_count)
            created = uow.prediction_feedback.create(
                prediction_id=row.id, deployment_id=row.deployment_id, variant=row.variant,
                kind=kind, truths=truths, created_by=principal.user_id,
            )
            uow.commit()
            return _feedback_view(created)

    def _await_record(self, tenant_id: str, prediction_id: str) -> None:
        """Flush the local log when the record may still be on its way to the database."""
        if self._log is None or not self._log.pending:
            return
        with self._uow.for_tenant(tenant_id, write=False) as uow:
            if uow.predictions.find(prediction_id) is not None:
                return
        self._log.flush(_FLUSH_WAIT_SECONDS)

    @staticmethod
    def _find(uow: Any, prediction_id: str) -> Any:
        row = uow.predictions.find(prediction_id)
        if row is None:
            raise not_logged(prediction_id)
        return row


def _truths(kind: str, given: Any, row_count: int) -> list[Any]:
    field = kind
    truths = given if isinstance(given, list) else [given]
    if len(truths) != row_count:
        raise InvalidInput(
            f"this prediction has {row_count} row(s): send a list of {row_count} {kind}s",
            field=field,
        )
    for truth in truths:
        if kind == VALUE and (
            isinstance(truth, bool) or not isinstance(truth, int | float)
            or not math.isfinite(truth)
        ):
            raise InvalidInput("each value must be a finite number", field=field)
        if kind == LABEL and not isinstance(truth, str | int | float | bool):
            raise InvalidInput("each label must be a string, number or boolean", field=field)
        if kind == LABEL and isinstance(truth, str) and len(truth) > 1000:
            raise InvalidInput("a label is at most 1000 characters", field=field)
    return truths


def _feedback_view(row: Any) -> FeedbackView:
    return FeedbackView(
        prediction_id=row.prediction_id, kind=row.kind, truths=list(row.truths),
        created_by=row.created_by, created_at=row.created_at,
    )


def _view(row: Any, feedback: Any) -> PredictionView:
    return PredictionView(
        id=row.id, deployment_id=row.deployment_id, revision=row.revision, variant=row.variant,
        model_version_id=row.model_version_id, inputs=row.inputs, outputs=dict(row.outputs),
        row_count=row.row_count, latency_ms=row.latency_ms, created_at=row.created_at,
        feedback=_feedback_view(feedback) if feedback is not None else None,
    )
