"""Typed results of the SDK: what each endpoint answers, as pydantic models.

Unknown fields the server adds later are kept (``extra="allow"``), so an older SDK keeps
working against a newer server. Objects that can act further (an experiment that can be
waited on) hold the client that fetched them.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from .errors import InvalidInput, client_error

if TYPE_CHECKING:
    from .client import Client


class Result(BaseModel):
    """Base of every typed result."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, protected_namespaces=())


class Bound(Result):
    """A result that can call back into the client that fetched it."""

    _client: Any = PrivateAttr(default=None)

    def _bind(self, client: Client) -> Bound:
        self._client = client
        return self

    @property
    def client(self) -> Client:
        if self._client is None:
            raise RuntimeError(f"this {type(self).__name__} is not attached to a client")
        return self._client


class Me(Result):
    """Who the client is.

    >>> client.me().permissions[:2]
    ['api_keys:read', 'api_keys:write']
    """

    user_id: str
    tenant_id: str
    email: str
    role: str
    permissions: list[str] = Field(default_factory=list)


class ApiKey(Result):
    """An API key as listed (never the secret).

    >>> [k.prefix for k in client.api_keys.list()]
    """

    id: str
    name: str
    prefix: str | None = None
    role: str
    user_id: str | None = None
    tenant_id: str | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
    created_at: datetime | None = None


class ApiKeyCreated(ApiKey):
    """A key just created; ``key`` is the secret, shown this once.

    >>> client.api_keys.create("ci").key
    'mk_...'
    """

    key: str = Field(description="the secret key; the server shows it only once")


class Column(Result):
    """One column of a dataset and its inferred type.

    >>> [(c.name, c.type) for c in ds.columns]
    """

    name: str
    type: str | None = None


class Dataset(Result):
    """A dataset version: schema, size, hash, a preview of the first rows.

    >>> ds = client.datasets.upload("churn.csv", name="churn")
    >>> ds.version, ds.row_count, ds.sha256[:8]
    """

    id: str
    name: str
    version: int | None = None
    format: str | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    row_count: int | None = None
    columns: list[Column] = Field(default_factory=list)
    preview: list[dict[str, Any]] = Field(default_factory=list)
    description: str | None = None
    created_at: datetime | None = None


class Run(Bound):
    """One execution: params, latest metrics, tags, status (MLflow vocabulary).

    >>> run = client.runs.get(run_id)
    >>> run.status, run.params["estimator"], run.metrics["accuracy"]
    """

    id: str
    experiment_id: str
    name: str | None = None
    status: str
    start_time: int | None = None
    end_time: int | None = None
    parent_run_id: str | None = None
    dataset_id: str | None = None
    job_id: str | None = None
    user_id: str | None = None
    lifecycle_stage: str | None = None
    params: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    created_at: datetime | None = None


class MetricPoint(Result):
    """One logged value of a metric.

    >>> [(p.step, p.value) for p in client.runs.metric_history(run.id, "loss")]
    """

    key: str
    value: float
    step: int = 0
    timestamp: int | None = None


class Artifact(Result):
    """A file stored with a run.

    >>> [a.path for a in client.runs.list_artifacts(run.id)]
    """

    path: str
    size_bytes: int | None = None
    sha256: str | None = None
    created_at: datetime | None = None


class Job(Result):
    """A background job (training ...); ``status`` is queued|running|succeeded|failed|cancelled.

    >>> job = client.jobs.get(exp.job_id)
    >>> job.status, job.progress, job.progress_message
    """

    id: str
    kind: str | None = None
    status: str
    progress: float | None = None
    progress_message: str | None = None
    error: str | None = None
    error_code: str | None = None
    attempts: int | None = None
    max_attempts: int | None = None
    run_id: str | None = None
    cancel_requested: bool | None = None
    result: dict[str, Any] | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def done(self) -> bool:
        return self.status in FINAL_JOB_STATUSES


FINAL_JOB_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


class JobLog(Result):
    """One line of a job's log.

    >>> [line.message for line in client.jobs.logs(job.id)]
    """

    created_at: datetime | None = None
    level: str = "info"
    message: str


class TrainingStarted(Bound):
    """A training job started in an existing experiment; wait on it like an experiment.

    >>> started = client.experiments.train(exp.id, "churned", {"estimator": "Ridge"})
    >>> run = started.wait_for_completion()
    """

    job_id: str
    run_id: str | None = None
    experiment_id: str

    def wait_for_completion(
        self, timeout: float | None = None, poll_interval: float = 1.0,
        progress: bool | None = None,
    ) -> Run:
        """Block until the training job ends; return its finished run (see Experiment)."""
        return self.client.jobs.wait_for_run(
            self.job_id, timeout=timeout, poll_interval=poll_interval, progress=progress
        )


class Experiment(Bound):
    """A named group of runs; created with ``target=`` it also carries a training job.

    >>> exp = client.experiments.create(model_id=m.id, dataset_id=ds.id, target="churned",
    ...                                 parameters={"estimator": "RandomForestClassifier"})
    >>> run = exp.wait_for_completion()
    >>> run.metrics["accuracy"]
    """

    id: str
    name: str
    description: str | None = None
    model_id: str | None = None
    dataset_id: str | None = None
    lifecycle_stage: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    job_id: str | None = None
    run_id: str | None = None

    def wait_for_completion(
        self, timeout: float | None = None, poll_interval: float = 1.0,
        progress: bool | None = None,
    ) -> Run:
        """Wait for this experiment's training job, showing its progress; return the run.

        Raises ``TrainingError`` (with the job's message) when the job failed or was
        cancelled, and ``WaitTimeout`` after ``timeout`` seconds.
        """
        if self.job_id is None:
            raise client_error(
                InvalidInput,
                f"experiment '{self.name}' was created without a training job: pass target= "
                "and parameters= to experiments.create, or call experiments.train"
            )
        return self.client.jobs.wait_for_run(
            self.job_id, timeout=timeout, poll_interval=poll_interval, progress=progress
        )

    def runs(self, filter: str | None = None, order_by: str | None = None) -> Any:
        """The experiment's runs, lazily, newest first."""
        return self.client.runs.list(experiment_id=self.id, filter=filter, order_by=order_by)


class Model(Result):
    """A registered model.

    >>> client.models.get(model.id).latest_version
    3
    """

    id: str
    name: str
    task: str | None = None
    framework: str | None = None
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    latest_version: int | None = None
    aliases: dict[str, int] = Field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None


class ModelVersion(Result):
    """An immutable model version: signature, validation metrics, stage, aliases.

    >>> client.models.get_version(model.id, 1).metrics["accuracy"]
    0.96
    """

    id: str
    model_id: str
    version: int
    format: str | None = None
    framework: str | None = None
    signature: dict[str, Any] | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    stage: str | None = None
    status: str | None = None
    description: str | None = None
    run_id: str | None = None
    dataset_id: str | None = None
    aliases: list[str] = Field(default_factory=list)
    created_at: datetime | None = None


class Deployment(Result):
    """A serving endpoint; ``url`` is its predict URL (relative to the server).

    >>> dep = client.deployments.create(model_id=model.id)
    >>> dep.name, dep.url
    """

    id: str
    name: str
    model_id: str
    model_version_id: str | None = None
    version: int | None = None
    environment: str | None = None
    replicas: int | None = None
    status: str | None = None
    description: str | None = None
    url: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    revision: int | None = None
    strategy: str | None = None
    kind: str | None = None
    variants: list[dict[str, Any]] = Field(default_factory=list)
    require_approval: bool = False
    pending_revision: int | None = None
    staged_revision: int | None = None


class DeploymentRevision(Result):
    """One configuration a deployment served or will serve (immutable; ``state`` moves).

    >>> [(r.number, r.state) for r in client.deployments.revisions("churn-production")]
    """

    number: int
    kind: str
    strategy: str
    state: str
    variants: list[dict[str, Any]]
    settings: dict[str, Any] = Field(default_factory=dict)
    composite: dict[str, Any] | None = None
    reason: str | None = None
    created_by: str | None = None
    created_at: datetime | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None


class Prediction(Result):
    """A prediction answer: one entry in ``predictions`` per input row.

    >>> client.predict(dep.id, features={"tenure": 12}).predictions
    [0]
    """

    deployment: str | None = None
    model_version: int | None = None
    predictions: list[Any]
    probabilities: list[list[float]] | None = None
    classes: list[Any] | None = None
    prediction_id: str | None = None
    variant: str | None = None
