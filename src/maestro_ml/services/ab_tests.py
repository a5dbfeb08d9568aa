"""The A/B report of a deployment: fed-back truths against each variant's logged predictions.

Classifier feedback (``label``) scores accuracy; regressor feedback (``value``) scores RMSE.
When a deployment has both kinds, the kind with more labelled rows is reported. Every row of
a logged prediction that has a truth is one sample; the newest ``max_feedback`` feedbacks
are read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from maestro_ml.auth.principal import Principal
from maestro_ml.domain.ab_test import AbResult, compare_accuracy, compare_rmse
from maestro_ml.domain.errors import InvalidInput
from maestro_ml.serving.ensembles import case_key

from .feedback import LABEL, VALUE
from .ports import UnitOfWorkFactory

MAX_FEEDBACK = 100_000


@dataclass(frozen=True)
class AbReport:
    deployment_id: str
    deployment: str
    result: AbResult


class AbTestService:
    def __init__(
        self, uow: UnitOfWorkFactory, min_samples: int = 100, alpha: float = 0.05,
        max_feedback: int = MAX_FEEDBACK,
    ) -> None:
        self._uow = uow
        self._min_samples = min_samples
        self._alpha = alpha
        self._max_feedback = max_feedback

    def report(
        self, principal: Principal, id_or_name: str, *, min_samples: int | None = None,
        alpha: float | None = None, revision: int | None = None,
    ) -> AbReport:
        """Per-variant metric, the significance test and the verdict of a deployment
        (of the predictions one ``revision`` served, when given)."""
        min_samples = self._min_samples if min_samples is None else min_samples
        alpha = self._alpha if alpha is None else alpha
        if min_samples < 1:
            raise InvalidInput("min_samples must be at least 1", field="min_samples")
        if not 0 < alpha < 1:
            raise InvalidInput("alpha must be between 0 and 1", field="alpha")
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            deployment = uow.deployments.get_by_id_or_name(id_or_name)
            outcomes = uow.prediction_feedback.outcomes(
                deployment.id, self._max_feedback, revision
            )
            variants = _known_variants(uow, deployment)
        counts, errors = score(outcomes, variants)
        labelled = sum(total for _, total in counts.values())
        measured = sum(len(values) for values in errors.values())
        if labelled >= measured:
            result = compare_accuracy(counts, min_samples, alpha)
        else:
            result = compare_rmse(errors, min_samples, alpha)
        return AbReport(deployment.id, deployment.name, result)


def score(
    outcomes: list[tuple[str, str, list[Any], dict[str, Any]]], variants: list[str]
) -> tuple[dict[str, tuple[int, int]], dict[str, list[float]]]:
    """Per variant: (correct, total) of labelled rows, and prediction - truth of valued rows.

    Variants of the deployment without feedback yet appear with no samples.
    """
    correct: dict[str, list[int]] = {name: [0, 0] for name in variants}
    errors: dict[str, list[float]] = {name: [] for name in variants}
    for variant, kind, truths, outputs in outcomes:
        predictions = list((outputs or {}).get("predictions") or [])
        for predicted, truth in zip(predictions, truths, strict=False):
            if kind == LABEL:
                tally = correct.setdefault(variant, [0, 0])
                tally[0] += int(case_key(predicted) == case_key(truth))
                tally[1] += 1
            elif kind == VALUE and _number(predicted):
                errors.setdefault(variant, []).append(float(predicted) - float(truth))
    return {name: (c, n) for name, (c, n) in correct.items()}, errors


def _number(value: Any) -> bool:
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    )


def _known_variants(uow: Any, deployment: Any) -> list[str]:
    """The serving variants of the deployment's current revision, when it has revisions."""
    revisions = getattr(uow, "deployment_revisions", None)
    revision_id = getattr(deployment, "current_revision_id", None)
    if revisions is None or not revision_id:
        return []
    revision = revisions.find(revision_id)
    names = []
    for variant in getattr(revision, "variants", None) or []:
        if isinstance(variant, dict) and variant.get("role") != "shadow" and variant.get("name"):
            names.append(str(variant["name"]))
    return names
