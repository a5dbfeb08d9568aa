"""``client.models``: the registry — models, their versions, aliases and stages."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..models import Model, ModelVersion
from .base import Resource, present, segment


class Models(Resource):
    """``client.models``: registered models, versions, aliases and stages."""

    def create(
        self,
        name: str,
        task: str,
        framework: str = "sklearn",
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Model:
        """Register a model (task: classification|regression; framework: sklearn, xgboost ...).

        >>> model = client.models.create(name="churn", task="classification",
        ...                              framework="sklearn")
        """
        body = present({"name": name, "task": task, "framework": framework,
                        "description": description, "tags": dict(tags) if tags else None})
        return self._one(Model, self._transport.json("POST", "/api/v1/models", json=body))

    def get(self, model_id: str) -> Model:
        """One model with its latest version number and aliases.

        >>> client.models.get(model.id).aliases
        {'champion': 3}
        """
        return self._one(Model, self._transport.json("GET", self._path(model_id)))

    def list(
        self,
        name: str | None = None,
        task: str | None = None,
        framework: str | None = None,
        q: str | None = None,
        max_results: int | None = None,
    ) -> Iterator[Model]:
        """Models, newest first, lazily; filter by exact name, task, framework or text ``q``.

        >>> [m.name for m in client.models.list(task="classification")]
        """
        params = {"name": name, "task": task, "framework": framework, "q": q}
        return self._each(Model, "/api/v1/models", params, max_results=max_results)

    def update(
        self, model_id: str, *, description: str | None = None,
        tags: Mapping[str, str] | None = None, **fields: Any,
    ) -> Model:
        """Change a model's description, tags (or other fields the server accepts).

        >>> client.models.update(model.id, description="v2")
        """
        body = present({"description": description,
                        "tags": dict(tags) if tags is not None else None, **fields})
        return self._one(Model, self._transport.json("PATCH", self._path(model_id), json=body))

    def delete(self, model_id: str) -> None:
        """Delete a model and its versions.

        >>> client.models.delete(model.id)
        """
        self._transport.request("DELETE", self._path(model_id))

    # -- versions ---------------------------------------------------------------------
    def versions(self, model_id: str, max_results: int | None = None) -> Iterator[ModelVersion]:
        """A model's versions, newest first, lazily.

        >>> [(v.version, v.metrics.get("accuracy")) for v in client.models.versions(model.id)]
        """
        path = f"{self._path(model_id)}/versions"
        return self._each(ModelVersion, path, max_results=max_results)

    def get_version(self, model_id: str, version: int) -> ModelVersion:
        """One version: signature, metrics, stage, aliases, lineage ids.

        >>> client.models.get_version(model.id, 1).signature
        """
        data = self._transport.json("GET", self._version_path(model_id, version))
        return self._one(ModelVersion, data)

    def update_version(
        self, model_id: str, version: int, *, description: str | None = None,
        stage: str | None = None, tags: Mapping[str, str] | None = None,
    ) -> ModelVersion:
        """Change a version's description, stage or tags.

        >>> client.models.update_version(model.id, 1, description="baseline")
        """
        body = present({"description": description, "stage": stage,
                        "tags": dict(tags) if tags is not None else None})
        path = self._version_path(model_id, version)
        return self._one(ModelVersion, self._transport.json("PATCH", path, json=body))

    def transition_stage(
        self, model_id: str, version: int, stage: str, archive_existing: bool = False
    ) -> ModelVersion:
        """Move a version to a stage (None, Staging, Production, Archived); with
        ``archive_existing`` the versions already in that stage move to Archived.

        >>> client.models.transition_stage(model.id, 2, "Production").stage
        'Production'
        """
        path = f"{self._version_path(model_id, version)}/stage"
        body = {"stage": stage, "archive_existing": archive_existing}
        return self._one(ModelVersion, self._transport.json("POST", path, json=body))

    def lineage(self, model_id: str, version: int) -> dict[str, Any]:
        """Where a version came from: its run, dataset and experiment.

        >>> client.models.lineage(model.id, 1)["dataset"]["name"]
        """
        path = f"{self._version_path(model_id, version)}/lineage"
        return dict(self._transport.json("GET", path))

    # -- aliases ----------------------------------------------------------------------
    def set_alias(self, model_id: str, alias: str, version: int) -> ModelVersion:
        """Point an alias (``champion``, ``challenger`` ...) at a version; returns the version.

        >>> client.models.set_alias(model.id, "champion", 3).aliases
        ['champion']
        """
        path = f"{self._path(model_id)}/aliases/{segment(alias)}"
        data = self._transport.json("PUT", path, json={"version": int(version)})
        return self._one(ModelVersion, data)

    def get_version_by_alias(self, model_id: str, alias: str) -> ModelVersion:
        """The version an alias points at.

        >>> client.models.get_version_by_alias(model.id, "champion").version
        3
        """
        path = f"{self._path(model_id)}/aliases/{segment(alias)}"
        return self._one(ModelVersion, self._transport.json("GET", path))

    def delete_alias(self, model_id: str, alias: str) -> None:
        """Remove an alias.

        >>> client.models.delete_alias(model.id, "challenger")
        """
        self._transport.request("DELETE", f"{self._path(model_id)}/aliases/{segment(alias)}")

    @staticmethod
    def _path(model_id: str) -> str:
        return f"/api/v1/models/{segment(model_id)}"

    def _version_path(self, model_id: str, version: int) -> str:
        return f"{self._path(model_id)}/versions/{int(version)}"
