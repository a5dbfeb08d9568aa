"""``client.experiments``: named groups of runs, and starting training in them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import AlreadyExists
from ..models import Experiment, TrainingStarted
from .base import Resource, present, segment


class Experiments(Resource):
    """``client.experiments``: create (optionally training), find, update, delete."""

    def create(
        self,
        name: str | None = None,
        *,
        description: str | None = None,
        model_id: str | None = None,
        dataset_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        target: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        task: str | None = None,
        validation_fraction: float | None = None,
    ) -> Experiment:
        """Create an experiment; with ``target`` it also starts a training job.

        >>> exp = client.experiments.create(
        ...     model_id=model.id, dataset_id=ds.id, target="churned",
        ...     parameters={"estimator": "RandomForestClassifier", "n_estimators": 100})
        >>> run = exp.wait_for_completion()
        """
        body = present({
            "name": name, "description": description, "model_id": model_id,
            "dataset_id": dataset_id, "tags": dict(tags) if tags else None, "target": target,
            "parameters": dict(parameters) if parameters is not None else None, "task": task,
            "validation_fraction": validation_fraction,
        })
        return self._one(Experiment, self._transport.json("POST", "/api/v1/experiments", json=body))

    def get(self, experiment_id: str) -> Experiment:
        """One experiment by id.

        >>> client.experiments.get(exp.id).name
        """
        path = f"/api/v1/experiments/{segment(experiment_id)}"
        return self._one(Experiment, self._transport.json("GET", path))

    def get_by_name(self, name: str) -> Experiment | None:
        """The experiment called ``name``, or None.

        >>> client.experiments.get_by_name("churn-baseline")
        """
        for experiment in self.list(name=name, max_results=10):
            if experiment.name == name:
                return experiment
        return None

    def get_or_create(self, name: str, **fields: Any) -> Experiment:
        """The experiment called ``name``, created when missing (safe against races).

        >>> client.experiments.get_or_create("churn-baseline").id
        """
        found = self.get_by_name(name)
        if found is not None:
            return found
        try:
            return self.create(name, **fields)
        except AlreadyExists:
            found = self.get_by_name(name)
            if found is None:
                raise
            return found

    def list(
        self,
        name: str | None = None,
        q: str | None = None,
        view: str | None = None,
        max_results: int | None = None,
    ) -> Iterator[Experiment]:
        """Experiments, newest first, lazily: ``name`` exact, ``q`` a text search, ``view``
        active (default), deleted or all.

        >>> [e.name for e in client.experiments.list(q="churn")]
        """
        params = {"name": name, "q": q, "view": view}
        return self._each(Experiment, "/api/v1/experiments", params, max_results=max_results)

    def update(
        self, experiment_id: str, *, name: str | None = None, description: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Experiment:
        """Rename an experiment or change its description or tags.

        >>> client.experiments.update(exp.id, description="v2 features")
        """
        body = present({"name": name, "description": description,
                        "tags": dict(tags) if tags is not None else None})
        path = f"/api/v1/experiments/{segment(experiment_id)}"
        return self._one(Experiment, self._transport.json("PATCH", path, json=body))

    def delete(self, experiment_id: str) -> None:
        """Soft-delete an experiment (``restore`` brings it back).

        >>> client.experiments.delete(exp.id)
        """
        self._transport.request("DELETE", f"/api/v1/experiments/{segment(experiment_id)}")

    def restore(self, experiment_id: str) -> Experiment:
        """Undo a delete.

        >>> client.experiments.restore(exp.id).lifecycle_stage
        'active'
        """
        path = f"/api/v1/experiments/{segment(experiment_id)}/restore"
        return self._one(Experiment, self._transport.json("POST", path))

    def train(
        self,
        experiment_id: str,
        target: str,
        parameters: Mapping[str, Any],
        task: str | None = None,
        validation_fraction: float | None = None,
    ) -> TrainingStarted:
        """Start another training job in an existing experiment.

        >>> started = client.experiments.train(exp.id, "churned", {"estimator": "Ridge"})
        >>> run = started.wait_for_completion()
        """
        body = present({"target": target, "parameters": dict(parameters), "task": task,
                        "validation_fraction": validation_fraction})
        path = f"/api/v1/experiments/{segment(experiment_id)}/train"
        return self._one(TrainingStarted, self._transport.json("POST", path, json=body))
