"""Logged predictions, feedback on them, A/B reports and stacking meta-model training."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query

from maestro_ml.auth.principal import Principal

from ..deps import ContainerDep, require
from ..schemas.predictions import (
    AbTestRead,
    FeedbackCreate,
    FeedbackRead,
    LoggedPredictionRead,
    MetaModelCreate,
    MetaModelRead,
)

router = APIRouter(tags=["predictions"])


@router.get("/api/v1/predictions/{prediction_id}", response_model=LoggedPredictionRead)
def get_prediction(
    prediction_id: str, container: ContainerDep,
    principal: Annotated[Principal, require("predictions:read")],
) -> LoggedPredictionRead:
    view = container.feedback.get_prediction(principal, prediction_id)
    return LoggedPredictionRead.model_validate(view)


@router.post(
    "/api/v1/predictions/{prediction_id}/feedback", response_model=FeedbackRead, status_code=201
)
def give_feedback(
    prediction_id: str, body: FeedbackCreate, container: ContainerDep,
    principal: Annotated[Principal, require("predictions:feedback")],
) -> FeedbackRead:
    given = body.model_fields_set
    view = container.feedback.record_feedback(
        principal, prediction_id, label=body.label, value=body.value,
        has_label="label" in given and body.label is not None,
        has_value="value" in given and body.value is not None,
    )
    return FeedbackRead.model_validate(view)


@router.get("/api/v1/deployments/{id_or_name}/ab-test", response_model=AbTestRead)
def ab_test_report(
    id_or_name: str, container: ContainerDep,
    principal: Annotated[Principal, require("deployments:read")],
    min_samples: Annotated[int | None, Query(ge=1, le=10_000_000)] = None,
    alpha: Annotated[float | None, Query(gt=0, lt=1)] = None,
    revision: Annotated[int | None, Query(ge=1, le=2_147_483_647, description=(
        "only predictions served by this revision (e.g. since the A/B test began)"))] = None,
) -> AbTestRead:
    report = container.ab_tests.report(
        principal, id_or_name, min_samples=min_samples, alpha=alpha, revision=revision
    )
    result = asdict(report.result)
    for key in ("statistic", "p_value"):  # JSON has no infinity
        if result[key] is not None and not math.isfinite(result[key]):
            result[key] = None if math.isnan(result[key]) else math.copysign(1e308, result[key])
    return AbTestRead.model_validate(
        {**result, "deployment_id": report.deployment_id, "deployment": report.deployment}
    )


@router.post("/api/v1/ensembles/meta-models", response_model=MetaModelRead, status_code=201)
def train_meta_model(
    body: MetaModelCreate, container: ContainerDep,
    principal: Annotated[Principal, require("deployments:write")],
) -> MetaModelRead:
    trained = container.ensembles.train_stacking_meta_model(
        principal, body.config, body.dataset_id, body.target
    )
    return MetaModelRead.model_validate(trained)
