"""The fluent tracking API: ``with maestro_ml.start_run(...)`` and module-level logging.

Runs started here form a stack per context (thread or task): the innermost is the
*active run* that ``log_param``, ``log_metric`` ... write to, and a run started while
another is active becomes its child (``parent_run_id``). The client comes from
``MAESTRO_API_URL`` / ``MAESTRO_API_KEY`` unless one is passed or set as the default::

    import maestro_ml

    with maestro_ml.start_run(experiment="churn-baseline") as run:
        maestro_ml.log_params({"estimator": "RandomForestClassifier", "max_depth": 10})
        for epoch in range(3):
            maestro_ml.log_metric("loss", 1 / (epoch + 1), step=epoch)
        maestro_ml.log_artifact("confusion.png")
    # the run is now FINISHED (FAILED had the block raised)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from .client import API_KEY_ENV, API_URL_ENV, Client
from .errors import InvalidInput, client_error
from .models import Artifact, Run

DEFAULT_EXPERIMENT = "Default"

_stack: ContextVar[tuple[ActiveRun, ...]] = ContextVar("maestro_active_runs", default=())
_default_lock = threading.Lock()
_default: dict[str, Any] = {"client": None, "key": None, "explicit": False}


class ActiveRun:
    """A run started by :func:`start_run`; a context manager that ends it.

    >>> with maestro_ml.start_run(experiment="demo") as run:
    ...     run.log_metric("loss", 0.5)
    ...     print(run.id, run.experiment_id)
    """

    def __init__(self, client: Client, run: Run) -> None:
        self.client = client
        self.info = run
        self.ended = False

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def experiment_id(self) -> str:
        return self.info.experiment_id

    @property
    def parent_run_id(self) -> str | None:
        return self.info.parent_run_id

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        if exc_type is None:
            self.end("FINISHED")
        elif issubclass(exc_type, KeyboardInterrupt):
            self.end("KILLED")
        else:
            self.end("FAILED")

    def end(self, status: str = "FINISHED") -> Run:
        """End the run with ``status`` (once) and stop it being the active run."""
        if not self.ended:
            self.info = self.client.runs.end(self.id, status)
            self.ended = True
        _stack.set(tuple(r for r in _stack.get() if r is not self))
        return self.info

    def refresh(self) -> Run:
        """The run as the server has it now (params, latest metrics, tags)."""
        self.info = self.client.runs.get(self.id)
        return self.info

    def log_param(self, key: str, value: Any) -> None:
        self.client.runs.log_param(self.id, key, value)

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.client.runs.log_batch(self.id, params=params)

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        self.client.runs.log_metric(self.id, key, value, step=step)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self.client.runs.log_batch(self.id, metrics=metrics, step=step)

    def set_tag(self, key: str, value: Any) -> None:
        self.client.runs.set_tag(self.id, key, value)

    def log_artifact(
        self, local_path: str | Path, artifact_path: str | None = None
    ) -> list[Artifact]:
        return self.client.runs.log_artifact(self.id, local_path, artifact_path)

    def __repr__(self) -> str:
        return f"ActiveRun(id={self.id!r}, experiment_id={self.experiment_id!r})"


def set_default_client(client: Client | None) -> None:
    """Use ``client`` for the fluent API instead of one built from the environment.

    >>> maestro_ml.set_default_client(maestro_ml.Client(api_url=url, api_key=key))
    """
    with _default_lock:
        _default.update(client=client, key=None, explicit=client is not None)


def default_client() -> Client:
    """The fluent API's client: the one set, else one from ``MAESTRO_API_URL``/``_KEY``.

    >>> maestro_ml.default_client().api_url
    'http://127.0.0.1:8000'
    """
    with _default_lock:
        if _default["explicit"]:
            return _default["client"]  # type: ignore[no-any-return]
        key = (os.environ.get(API_URL_ENV), os.environ.get(API_KEY_ENV))
        if _default["client"] is None or _default["key"] != key:
            _default.update(client=Client(), key=key)
        return _default["client"]  # type: ignore[no-any-return]


def start_run(
    experiment: str | None = None,
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
    *,
    experiment_id: str | None = None,
    dataset_id: str | None = None,
    client: Client | None = None,
) -> ActiveRun:
    """Start a run and make it the active one; use it as a context manager.

    The experiment is found by name (created when missing); without one a nested run
    joins its parent's experiment, a top-level run the ``Default`` experiment. Inside
    another active run the new run is its child.

    >>> with maestro_ml.start_run(experiment="churn", run_name="rf", tags={"team": "growth"}):
    ...     maestro_ml.log_metric("accuracy", 0.93)
    """
    parent = active_run()
    client = client or (parent.client if parent else default_client())
    if experiment_id is None:
        if experiment is not None:
            experiment_id = client.experiments.get_or_create(experiment).id
        elif parent is not None:
            experiment_id = parent.experiment_id
        else:
            experiment_id = client.experiments.get_or_create(DEFAULT_EXPERIMENT).id
    run = client.runs.create(
        experiment_id, name=run_name, parent_run_id=parent.id if parent else None,
        dataset_id=dataset_id, tags=tags,
    )
    active = ActiveRun(client, run)
    _stack.set((*_stack.get(), active))
    return active


def active_run() -> ActiveRun | None:
    """The innermost run started with :func:`start_run` and not yet ended, or None.

    >>> maestro_ml.active_run() is None
    True
    """
    stack = _stack.get()
    return stack[-1] if stack else None


def end_run(status: str = "FINISHED") -> Run | None:
    """End the active run with ``status`` (FINISHED, FAILED, KILLED); None when none is active.

    >>> run = maestro_ml.start_run(experiment="demo")
    >>> maestro_ml.end_run()
    """
    current = active_run()
    return current.end(status) if current else None


def _require_active() -> ActiveRun:
    current = active_run()
    if current is None:
        raise client_error(InvalidInput, "no active run: call maestro_ml.start_run() first")
    return current


def log_param(key: str, value: Any) -> None:
    """Log one parameter to the active run.

    >>> maestro_ml.log_param("max_depth", 10)
    """
    _require_active().log_param(key, value)


def log_params(params: Mapping[str, Any]) -> None:
    """Log several parameters to the active run in one call.

    >>> maestro_ml.log_params({"estimator": "RandomForestClassifier", "n_estimators": 100})
    """
    _require_active().log_params(params)


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Log one metric value (at ``step``) to the active run.

    >>> maestro_ml.log_metric("loss", 0.25, step=3)
    """
    _require_active().log_metric(key, value, step)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log several metrics (at ``step``) to the active run in one call.

    >>> maestro_ml.log_metrics({"accuracy": 0.93, "f1": 0.91})
    """
    _require_active().log_metrics(metrics, step)


def set_tag(key: str, value: Any) -> None:
    """Set a tag on the active run.

    >>> maestro_ml.set_tag("team", "growth")
    """
    _require_active().set_tag(key, value)


def log_artifact(local_path: str | Path, artifact_path: str | None = None) -> list[Artifact]:
    """Upload a file (or a directory's files) to the active run, streamed.

    >>> maestro_ml.log_artifact("roc.png", artifact_path="figures")
    """
    return _require_active().log_artifact(local_path, artifact_path)
