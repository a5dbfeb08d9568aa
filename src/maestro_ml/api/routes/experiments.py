"""Experiments: CRUD, soft delete and restore, and training inside an experiment.

Training is delegated to ``container.training`` (the training service), which creates the
experiment (or uses an existing one), a SCHEDULED run and a job in one transaction.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from maestro_ml.auth.principal import Principal
from maestro_ml.domain.errors import InvalidInput

from ..deps import ContainerDep, Cursor, PageSize, require
from ..schemas.common import Page, page_of
from ..schemas.tracking import (
    ExperimentCreate,
    ExperimentRead,
    ExperimentUpdate,
    TrainingStartedRead,
    TrainRequest,
    View,
)

router = APIRouter(prefix="/api/v1/experiments", tags=["experiments"])


def _training(container: Any) -> Any:
    training = getattr(container, "training", None)
    if training is None:
        raise InvalidInput("training is not available")
    return training


@router.post("", response_model=ExperimentRead, status_code=201)
def create_experiment(
    body: ExperimentCreate, container: ContainerDep,
    principal: Annotated[Principal, require("experiments:write")],
) -> ExperimentRead:
    if body.target is None:
        row = container.experiments.create_experiment(
            principal, name=body.name, description=body.description, model_id=body.model_id,
            dataset_id=body.dataset_id, tags=body.tags,
        )
        return ExperimentRead.model_validate(row)
    started = _training(container).start_training(
        principal, model_id=body.model_id, dataset_id=body.dataset_id, target=body.target,
        parameters=body.parameters or {}, task=body.task,
        validation_fraction=body.validation_fraction, experiment_name=body.name,
        description=body.description, tags=body.tags,
    )
    read = ExperimentRead.model_validate(started.experiment)
    return read.model_copy(update={"job_id": started.job.id, "run_id": started.run.id})


@router.get("", response_model=Page[ExperimentRead])
def list_experiments(
    container: ContainerDep, principal: Annotated[Principal, require("experiments:read")],
    limit: PageSize, cursor: Cursor = None,
    name: Annotated[str | None, Query(description="exact name")] = None,
    q: Annotated[str | None, Query(description="case-insensitive part of the name")] = None,
    view: Annotated[View, Query(description="active, deleted or all")] = "active",
) -> dict[str, Any]:
    page = container.experiments.list_experiments(
        principal, limit=limit, cursor=cursor, name=name, q=q, view=view
    )
    return page_of(ExperimentRead, page)


@router.get("/{experiment_id}", response_model=ExperimentRead)
def get_experiment(
    experiment_id: str, container: ContainerDep,
    principal: Annotated[Principal, require("experiments:read")],
) -> ExperimentRead:
    return ExperimentRead.model_validate(
        container.experiments.get_experiment(principal, experiment_id)
    )


@router.patch("/{experiment_id}", response_model=ExperimentRead)
def update_experiment(
    experiment_id: str, body: ExperimentUpdate, container: ContainerDep,
    principal: Annotated[Principal, require("experiments:write")],
) -> ExperimentRead:
    row = container.experiments.update_experiment(
        principal, experiment_id, body.model_dump(exclude_unset=True)
    )
    return ExperimentRead.model_validate(row)


@router.delete("/{experiment_id}", status_code=204)
def delete_experiment(
    experiment_id: str, container: ContainerDep,
    principal: Annotated[Principal, require("experiments:delete")],
) -> Response:
    container.experiments.delete_experiment(principal, experiment_id)
    return Response(status_code=204)


@router.post("/{experiment_id}/restore", response_model=ExperimentRead)
def restore_experiment(
    experiment_id: str, container: ContainerDep,
    principal: Annotated[Principal, require("experiments:delete")],
) -> ExperimentRead:
    row = container.experiments.restore_experiment(principal, experiment_id)
    return ExperimentRead.model_validate(row)


@router.post("/{experiment_id}/train", response_model=TrainingStartedRead, status_code=202)
def train_in_experiment(
    experiment_id: str, body: TrainRequest, container: ContainerDep,
    principal: Annotated[Principal, require("jobs:write")],
) -> TrainingStartedRead:
    # Another tenant's experiment is a 404 here whatever the training service does.
    container.experiments.get_experiment(principal, experiment_id)
    started = _training(container).start_training(
        principal, experiment_id=experiment_id, target=body.target, parameters=body.parameters,
        task=body.task, validation_fraction=body.validation_fraction,
    )
    return TrainingStartedRead(
        job_id=started.job.id, run_id=started.run.id, experiment_id=started.experiment.id
    )
