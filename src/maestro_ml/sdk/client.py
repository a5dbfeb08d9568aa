"""``maestro_ml.Client``: the entry point of the SDK, one attribute per REST resource."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from .credentials import (
    AnonymousCredentials,
    ApiKeyCredentials,
    Credentials,
    PasswordCredentials,
)
from .errors import InvalidInput, client_error
from .models import Me, Prediction
from .resources import ApiKeys, Datasets, Deployments, Experiments, Jobs, Models, Runs
from .transport import RetryPolicy, Transport

DEFAULT_API_URL = "http://127.0.0.1:8000"
API_URL_ENV = "MAESTRO_API_URL"
API_KEY_ENV = "MAESTRO_API_KEY"


class Client:
    """A connection to one Maestro server.

    Credentials: an API key (``api_key=`` or ``MAESTRO_API_KEY``), or ``email=`` and
    ``password=`` (logs in and keeps the access token fresh). The URL comes from
    ``api_url=`` or ``MAESTRO_API_URL`` (default ``http://127.0.0.1:8000``).

    >>> import maestro_ml
    >>> client = maestro_ml.Client(api_url="http://127.0.0.1:8000", api_key="mk_...")
    >>> ds = client.datasets.upload(path="data.csv", name="churn")
    >>> model = client.models.create(name="churn", task="classification")
    >>> exp = client.experiments.create(model_id=model.id, dataset_id=ds.id, target="churned",
    ...     parameters={"estimator": "RandomForestClassifier", "n_estimators": 100})
    >>> run = exp.wait_for_completion()
    >>> dep = client.deployments.create(model_id=model.id, environment="production")
    >>> client.predict(deployment_id=dep.id, features={"tenure": 12, "plan": "pro"})
    """

    def __init__(
        self,
        api_url: str | None = None,
        api_key: str | None = None,
        *,
        email: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 4,
        show_progress: bool = True,
        verify: bool | str = True,
        http_transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.api_url = (api_url or os.environ.get(API_URL_ENV) or DEFAULT_API_URL).rstrip("/")
        self.show_progress = show_progress
        credentials = _credentials(api_key, email, password)
        self.transport = Transport(
            self.api_url, credentials, timeout=timeout,
            retry=retry or RetryPolicy(max_retries=max_retries),
            http_transport=http_transport, verify=verify,
        )
        self.datasets = Datasets(self)
        self.models = Models(self)
        self.experiments = Experiments(self)
        self.runs = Runs(self)
        self.jobs = Jobs(self)
        self.deployments = Deployments(self)
        self.api_keys = ApiKeys(self)

    def me(self) -> Me:
        """Who the client is: user, tenant, role and permissions.

        >>> client.me().role
        'data_scientist'
        """
        return Me.model_validate(self.transport.json("GET", "/api/v1/auth/me"))

    def predict(
        self,
        deployment_id: str | None = None,
        features: Mapping[str, Any] | None = None,
        instances: Sequence[Mapping[str, Any]] | None = None,
        *,
        deployment: str | None = None,
    ) -> Prediction:
        """Predict with a deployment (given by id or name): one row or many.

        >>> client.predict(deployment_id=dep.id, features={"tenure": 12, "plan": "pro"})
        Prediction(deployment='churn', model_version=1, predictions=[0], ...)
        >>> client.predict("churn", instances=[{"tenure": 1}, {"tenure": 40}])
        """
        target = deployment_id or deployment
        if not target:
            raise client_error(InvalidInput, "pass deployment_id= (a deployment's id or name)")
        return self.deployments.predict(target, features=features, instances=instances)

    def close(self) -> None:
        """Close the HTTP connections."""
        self.transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client(api_url={self.api_url!r})"


def _credentials(api_key: str | None, email: str | None, password: str | None) -> Credentials:
    if email or password:
        if not (email and password):
            raise client_error(InvalidInput, "pass both email= and password=, or an api_key=")
        return PasswordCredentials(email, password)
    key = api_key or os.environ.get(API_KEY_ENV)
    if key:
        return ApiKeyCredentials(key)
    return AnonymousCredentials()
