"""``client.deployments``: serving endpoints, and predictions against them."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ..errors import InvalidInput, client_error
from ..models import Deployment, DeploymentRevision, Prediction
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
        *,
        variants: Sequence[Mapping[str, Any]] | None = None,
        require_approval: bool | None = None,
        **revision: Any,
    ) -> Deployment:
        """Deploy a model version (by number, by alias, or the latest when neither is given),
        or several ``variants`` (dicts with role, weight, version/alias, model_id, name).

        ``revision`` takes the other serving fields: ``strategy``, ``canary``, ``kind``,
        ``composite``, ``log_sample_rate``, ``shadow_sample_rate``, ``shadow_tolerance``,
        ``reason``.

        >>> dep = client.deployments.create(model_id=model.id, environment="production",
        ...                                 replicas=2)
        >>> dep.name, dep.url
        """
        body = present({
            "model_id": model_id, "version": version, "alias": alias, "name": name,
            "environment": environment, "replicas": replicas, "description": description,
            "variants": list(variants) if variants is not None else None,
            "require_approval": require_approval, **revision,
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
        variants: Sequence[Mapping[str, Any]] | None = None,
        require_approval: bool | None = None,
        **revision: Any,
    ) -> Deployment:
        """Switch a deployment to another version or alias, or rescale it; a serving change
        is a new revision (``strategy="canary"``/``"blue_green"`` roll it out gradually).

        >>> client.deployments.update(dep.id, version=3).version
        3
        >>> client.deployments.update(dep.id, version=4, strategy="canary",
        ...                           canary={"steps": [10, 50, 100], "min_requests": 200})
        """
        body = present({"version": version, "alias": alias, "replicas": replicas,
                        "description": description,
                        "variants": list(variants) if variants is not None else None,
                        "require_approval": require_approval, **revision})
        data = self._transport.json("PATCH", self._path(deployment), json=body)
        return self._one(Deployment, data)

    def delete(self, deployment: str) -> None:
        """Remove a deployment.

        >>> client.deployments.delete(dep.id)
        """
        self._transport.request("DELETE", self._path(deployment))

    def revisions(self, deployment: str) -> list[DeploymentRevision]:
        """Every revision of a deployment, newest first."""
        data = self._transport.json("GET", f"{self._path(deployment)}/revisions")
        return [self._one(DeploymentRevision, item) for item in data]

    def rollback(
        self, deployment: str, revision: int | None = None, reason: str | None = None
    ) -> Deployment:
        """Serve an earlier revision again (default: the one before the current).

        >>> client.deployments.rollback("churn-production", revision=3).revision
        """
        body = present({"revision": revision, "reason": reason})
        return self._action(deployment, "rollback", body)

    def approve(self, deployment: str, revision: int) -> Deployment:
        """Approve a pending revision (its creator cannot)."""
        return self._action(deployment, f"revisions/{int(revision)}/approve")

    def reject(self, deployment: str, revision: int) -> Deployment:
        return self._action(deployment, f"revisions/{int(revision)}/reject")

    def switch(self, deployment: str) -> Deployment:
        """Blue-green: send all traffic to the staged revision."""
        return self._action(deployment, "switch")

    def canary(self, deployment: str) -> dict[str, Any]:
        """The canary's step, policy, counters and the evaluator's next decision."""
        return self._transport.json("GET", f"{self._path(deployment)}/canary")  # type: ignore[no-any-return]

    def advance_canary(self, deployment: str) -> Deployment:
        return self._action(deployment, "canary/advance")

    def abort_canary(self, deployment: str) -> Deployment:
        return self._action(deployment, "canary/abort")

    def stats(self, deployment: str) -> dict[str, Any]:
        """Per-variant counters and shadow agreement, as the answering replica saw them."""
        return self._transport.json("GET", f"{self._path(deployment)}/stats")  # type: ignore[no-any-return]

    def predict(
        self,
        deployment: str,
        features: Mapping[str, Any] | None = None,
        instances: Sequence[Mapping[str, Any]] | None = None,
        routing_key: str | None = None,
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
        headers = {"X-Routing-Key": routing_key} if routing_key is not None else None
        return self._one(
            Prediction, self._transport.json("POST", path, json=body, headers=headers)
        )

    def _action(
        self, deployment: str, action: str, body: dict[str, Any] | None = None
    ) -> Deployment:
        data = self._transport.json(
            "POST", f"{self._path(deployment)}/{action}",
            json=body if body is not None else None,
        )
        return self._one(Deployment, data)

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
