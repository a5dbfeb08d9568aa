"""Training use cases: start a training (experiment + run + job at once) and record its result.

``start_training`` queues a ``train`` job; the worker then calls :meth:`TrainingService.prepare`
(the dataset as a local file) and, once the training process produced a model,
:meth:`TrainingService.complete_training`, which registers the model version, logs params and
validation metrics on the run, finishes the run and marks the job succeeded in one
transaction, guarded by the worker's lease.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from maestro_ml.auth.principal import Principal
from maestro_ml.domain import tracking as runs
from maestro_ml.domain.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from maestro_ml.domain.names import validate_name
from maestro_ml.ml.estimators import TASKS, build_estimator, task_of_estimator

from .datasets import DatasetService
from .jobs import ClaimedJob, add_job, mark_succeeded
from .ports import ArtifactStore, UnitOfWorkFactory

TRAIN = "train"
# Two trainings of one model finishing together both read version N; the loser retries.
VERSION_ATTEMPTS = 3
DEFAULT_VALIDATION_FRACTION = 0.2
PARAMETERS_EXAMPLE = '{"estimator": "RandomForestClassifier", "n_estimators": 100}'


@dataclass(frozen=True)
class TrainingStarted:
    """The rows ``start_training`` created (or, for the experiment, found)."""

    experiment: Any
    run: Any
    job: Any


@dataclass(frozen=True)
class TrainingRequest:
    """What the training process needs: the spec and the dataset as a local file."""

    spec: dict[str, Any]
    dataset_path: Path


class TrainingService:
    def __init__(
        self, uow: UnitOfWorkFactory, artifacts: ArtifactStore, datasets: DatasetService
    ) -> None:
        self._uow = uow
        self._artifacts = artifacts
        self._datasets = datasets

    def start_training(
        self, principal: Principal, *, target: str, parameters: dict[str, Any],
        model_id: str | None = None, dataset_id: str | None = None, task: str | None = None,
        validation_fraction: float | None = 0.2, experiment_id: str | None = None,
        experiment_name: str | None = None, description: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> TrainingStarted:
        """Queue the training of ``model_id`` on ``dataset_id``; creates the experiment when
        ``experiment_id`` is None, a SCHEDULED run and a ``train`` job, all or nothing.
        In an existing experiment, model and dataset default to the experiment's.

        >>> started = training.start_training(p, model_id=m.id, dataset_id=d.id,
        ...     target="churned", parameters={"estimator": "RandomForestClassifier"})
        >>> started.job.status, started.run.status  # doctest: +SKIP
        ('queued', 'SCHEDULED')
        """
        estimator, hyperparameters = split_parameters(parameters)
        if validation_fraction is None:
            validation_fraction = DEFAULT_VALIDATION_FRACTION
        _check_spec(target, task, validation_fraction)
        tags = runs.validate_tags(tags)
        with self._uow.for_tenant(principal.tenant_id) as uow:
            experiment = None
            if experiment_id is not None:
                experiment = uow.experiments.get(experiment_id)
                if experiment.lifecycle_stage != runs.ACTIVE:
                    raise Conflict(
                        f"experiment '{experiment.name}' is deleted; restore it to train in it"
                    )
                model_id = model_id or experiment.model_id
                dataset_id = dataset_id or experiment.dataset_id
            model = uow.models.get(_required(model_id, "model_id", "the model to train"))
            dataset = uow.datasets.get(
                _required(dataset_id, "dataset_id", "the dataset to train on")
            )
            chosen_task = task or (model.task if model.task in TASKS else None)
            _check_against_dataset(dataset, target, estimator, hyperparameters, chosen_task)
            if experiment is None:
                experiment = self._new_experiment(
                    uow, principal, model, dataset, experiment_name, description, tags
                )
            run_id, job_id = uuid.uuid4().hex, uuid.uuid4().hex
            run = uow.runs.create(
                id=run_id, experiment_id=experiment.id, name=runs.generated_name(estimator),
                status=runs.SCHEDULED, start_time=runs.now_ms(), dataset_id=dataset.id,
                job_id=job_id, user_id=principal.user_id,
            )
            spec = {
                "target": target, "estimator": estimator, "hyperparameters": hyperparameters,
                # The registered model's task decides when the caller does not.
                "task": chosen_task,
                "validation_fraction": validation_fraction, "dataset_format": dataset.format,
            }
            payload = {"model_id": model.id, "dataset_id": dataset.id,
                       "experiment_id": experiment.id, "run_id": run_id, "spec": spec}
            job = add_job(uow, kind=TRAIN, payload=payload, created_by=principal.user_id,
                          run_id=run_id, job_id=job_id)
            uow.commit()
        return TrainingStarted(experiment, run, job)

    # -- the worker's side ----------------------------------------------------------------
    def prepare(self, job: ClaimedJob, directory: Path) -> TrainingRequest:
        """The spec of a claimed ``train`` job and its dataset as a local file."""
        payload = job.payload
        with self._uow.for_tenant(job.tenant_id, write=False) as uow:
            if uow.models.find(payload["model_id"]) is None:
                raise NotFound("the model was deleted after the training was queued")
            dataset = uow.datasets.find(payload["dataset_id"])
            if dataset is None:
                raise NotFound(
                    "the dataset was deleted after the training was queued; upload it again "
                    "and start a new training"
                )
        path = self._datasets.local_file(job.tenant_id, dataset, directory)
        return TrainingRequest(spec=dict(payload["spec"]), dataset_path=path)

    def complete_training(
        self, job: ClaimedJob, owner: str, model_dir: Path, result: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Register the trained model and finish run and job, if ``owner`` still holds the job.

        Returns the job's result, or None when the job is no longer this worker's (its lease
        was taken over): then nothing is written.
        """
        attempts_left = VERSION_ATTEMPTS
        while True:
            try:
                return self._record_result(job, owner, model_dir, result)
            except AlreadyExists:
                attempts_left -= 1
                if not attempts_left:
                    raise

    def _record_result(
        self, job: ClaimedJob, owner: str, model_dir: Path, result: dict[str, Any]
    ) -> dict[str, Any] | None:
        payload, now = job.payload, datetime.now(UTC)
        with self._uow.for_tenant(job.tenant_id) as uow:
            if uow.models.find(payload["model_id"]) is None:
                raise NotFound("the model was deleted while it was being trained")
            run = uow.runs.find(job.run_id) if job.run_id else None
            dataset = uow.datasets.find(payload["dataset_id"])
            number = uow.model_versions.next_version(payload["model_id"])
            version = uow.model_versions.create(
                id=uuid.uuid4().hex, model_id=payload["model_id"], version=number,
                artifact_key=f"models/{payload['model_id']}/v{number}",
                format=result["format"], framework=result["framework"],
                signature=result["signature"], metrics=result["metrics"],
                run_id=run.id if run else None, dataset_id=dataset.id if dataset else None,
                created_by=job.created_by,
            )
            # Flushing the version row claims its number before any file is written: a
            # concurrent claim of the same number waits for this transaction, then fails.
            uow.flush()
            summary = {"model_id": payload["model_id"], "model_version_id": version.id,
                       "version": number, "metrics": result["metrics"]}
            if not mark_succeeded(uow, job, owner, summary, now):
                return None
            prefix = self._artifacts.tenant_key(job.tenant_id, version.artifact_key)
            try:
                self._artifacts.write_dir(prefix, model_dir)
                if run is not None:
                    _record_run(uow, run, payload["spec"], result)
                uow.commit()
            except BaseException:
                self._artifacts.delete_prefix(prefix)
                raise
        return summary

    @staticmethod
    def _new_experiment(
        uow: Any, principal: Principal, model: Any, dataset: Any, name: str | None,
        description: str | None, tags: dict[str, str],
    ) -> Any:
        if name is None:
            name = runs.generated_name(f"train-{model.name[:200]}")
        else:
            name = validate_name(name, "experiment")
            if uow.experiments.find_by_name(name) is not None:
                raise AlreadyExists(
                    f"experiment '{name}' already exists; pass its experiment_id to train in it"
                )
        return uow.experiments.create(
            id=uuid.uuid4().hex, name=name, description=description, model_id=model.id,
            dataset_id=dataset.id, tags=tags, created_by=principal.user_id,
        )


def split_parameters(parameters: Any) -> tuple[str, dict[str, Any]]:
    """``(estimator, hyper-parameters)`` from the ``parameters`` object of a training request."""
    if not isinstance(parameters, dict):
        raise InvalidInput(f"parameters must be an object such as {PARAMETERS_EXAMPLE}")
    estimator = parameters.get("estimator")
    if not isinstance(estimator, str) or not estimator.strip():
        raise InvalidInput(
            f"parameters.estimator is required: name the estimator to train, "
            f"e.g. {PARAMETERS_EXAMPLE}", field="parameters.estimator",
        )
    return estimator.strip(), {k: v for k, v in parameters.items() if k != "estimator"}


def _required(value: str | None, field: str, what: str) -> str:
    if not value:
        raise InvalidInput(f"{field} is required to train: the id of {what}", field=field)
    return value


def _check_spec(target: Any, task: Any, validation_fraction: Any) -> None:
    if not isinstance(target, str) or not target:
        raise InvalidInput("target must name the dataset column to predict", field="target")
    if task is not None and task not in TASKS:
        raise InvalidInput(f"task must be one of: {', '.join(TASKS)} (or omitted)", field="task")
    number = isinstance(validation_fraction, int | float) and not isinstance(
        validation_fraction, bool
    )
    if not number or not 0 < validation_fraction < 1:
        raise InvalidInput(
            "validation_fraction must be between 0 and 1, exclusive (e.g. 0.2)",
            field="validation_fraction",
        )


def _record_run(uow: Any, run: Any, spec: dict[str, Any], result: dict[str, Any]) -> None:
    """Params and validation metrics on the run, which finishes now."""
    params = {key: _param_value(value) for key, value in spec["hyperparameters"].items()}
    params.update(estimator=result["estimator"], target=spec["target"], task=result["task"])
    uow.runs.add_params(run.id, params)
    stamp = runs.now_ms()
    uow.runs.add_metrics(
        run.id, [(key, float(value), 0, stamp) for key, value in result["metrics"].items()]
    )
    run.status, run.end_time = runs.FINISHED, stamp


def _param_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text[: runs.MAX_PARAM_VALUE_LENGTH]


def _check_against_dataset(
    dataset: Any, target: str, estimator: str, hyperparameters: dict[str, Any],
    task: str | None,
) -> None:
    """Refuse at once (422) what the job would only discover minutes later."""
    columns = [column["name"] for column in dataset.columns or []]
    if columns and target not in columns:
        raise InvalidInput(
            f"target column '{target}' is not in dataset '{dataset.name}' v{dataset.version}; "
            f"its columns are: {', '.join(columns[:50])}",
            field="target",
        )
    resolved = task or task_of_estimator(estimator)
    if resolved is not None:
        # Builds (does not fit) the estimator: unknown names and hyper-parameters fail here.
        build_estimator(estimator, resolved, hyperparameters)
