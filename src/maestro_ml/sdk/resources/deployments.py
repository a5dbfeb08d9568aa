"""``client.deployments``: serving endpoints, and predictions against them."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ..errors import InvalidInput, client_error
from ..models import Deployment, Prediction
from .base import Resource, present, segment


class Deployments(Resource):
    """``client.deployments``: create, switch, scale, delete endpoints; predict."""

    def create(
        self,
        model_id: str,
        version: int | None = None,
        alias: str | None = None,
        name: str | None = None,
        environment: str = "development",
        replicas: int = 1,
        description: str | None = None,
    ) -> Deployment:
        """Deploy a model version (by number, by alias, or the latest when neither is given).

        >>> dep = client.deployments.create(model_id=model.id, environment="production",
        ...                                 replicas=2)
        >>> dep.name, dep.url
        """
        body = present({
            "model_id": model_id, "version": version, "alias": alias, "name": name,
            "environment": environment, "replicas": replicas, "description": description,
        })
        return self._one(Deployment, self._transport.json("POST", "/api/v1/deployments", json=body))

    def get(self, deployment: str) -> Deployment:
        """One deployment, by id or by name.

        >>> client.deployments.get("churn-production").version
        """
        return self._one(Deployment, self._transport.json("GET", self._path(deployment)))

    def list(
        self,
        model_id: str | None = None,
        environment: str | None = None,
        max_results: int | None = None,
    ) -> Iterator[Deployment]:
        """Deployments, newest first, lazily; filter by model or environment.

        >>> [d.name for d in client.deployments.list(environment="production")]
        """
        params = {"model_id": model_id, "environment": environment}
        return self._each(Deployment, "/api/v1/deployments", params, max_results=max_results)

    def update(
        self,
        deployment: str,
        *,
        version: int | None = None,
        alias: str | None = None,
        replicas: int | None = None,
        description: str | None = None,
    ) -> Deployment:
        """Switch a deployment to another version or alias, or rescale it.

        >>> client.deployments.update(dep.id, version=3).version
        3
        """
        body = present({"version": version, "alias": alias, "replicas": replicas,
                        "description": description})
        data = self._transport.json("PATCH", self._path(deployment), json=body)
        return self._one(Deployment, data)

    def delete(self, deployment: str) -> None:
        """Remove a deployment.

        >>> client.deployments.delete(dep.id)
        """
        self._transport.request("DELETE", self._path(deployment))

    def predict(
        self,
        deployment: str,
        features: Mapping[str, Any] | None = None,
        instances: Sequence[Mapping[str, Any]] | None = None,
    ) -> Prediction:
        """Predict one row (``features``) or many (``instances``) with a deployment.

        >>> client.deployments.predict("churn-production",
        ...                            features={"tenure": 12}).predictions
        [0]
        """
        if (features is None) == (instances is None):
            raise client_error(
                InvalidInput, "pass exactly one of features= (one row) or instances= (rows)"
            )
        body: dict[str, Any]
        if features is not None:
            body = {"features": _row(features)}
        else:
            body = {"instances": [_row(row) for row in instances or []]}
        path = f"{self._path(deployment)}/predict"
        return self._one(Prediction, self._transport.json("POST", path, json=body))

    @staticmethod
    def _path(deployment: str) -> str:
        return f"/api/v1/deployments/{segment(deployment)}"


def _row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as plain JSON values: numpy/pandas scalars unboxed, NaN sent as null."""
    clean: dict[str, Any] = {}
    for key, value in row.items():
        if hasattr(value, "item") and callable(value.item):
            value = value.item()
        if isinstance(value, float) and math.isnan(value):
            value = None
        clean[str(key)] = value
    return clean
