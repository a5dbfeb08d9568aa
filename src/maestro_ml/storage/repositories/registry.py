"""Repositories of models and model versions (with their aliases).

Aliases have no tenant column: every alias query here starts from a model id the caller
already loaded through the tenant-scoped session, which is what keeps them tenant-safe.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from maestro_ml.domain.errors import InvalidInput, NotFound
from maestro_ml.domain.pagination import decode_cursor, encode_cursor

from ..tables import (
    DeploymentRow,
    LatestMetricRow,
    LoggedModelMetricRow,
    LoggedModelRow,
    ModelAliasRow,
    ModelRow,
    ModelVersionRow,
    ParamRow,
    RunModelRow,
)
from .base import Page, Repository, escape_like


class ModelRepository(Repository[ModelRow]):
    row = ModelRow
    kind = "model"

    def search(
        self, *, limit: int, cursor: str | None = None, name: str | None = None,
        q: str | None = None, task: str | None = None, framework: str | None = None,
    ) -> Page[ModelRow]:
        """Newest first; ``name`` matches exactly, ``q`` as a case-insensitive substring."""
        where: list[Any] = []
        if name is not None:
            where.append(ModelRow.name == name)
        if q:
            where.append(ModelRow.name.ilike(f"%{escape_like(q)}%", escape="\\"))
        if task is not None:
            where.append(ModelRow.task == task)
        if framework is not None:
            where.append(ModelRow.framework == framework)
        return self.list(limit=limit, cursor=cursor, where=where)

    def chunk(
        self, *, order: Sequence[tuple[str, bool]], offset: int, limit: int,
        name_like: str | None = None,
    ) -> list[ModelRow]:
        """Rows ``offset`` .. ``offset + limit`` in ``order`` (``[(field, ascending)]`` over
        name, created_at, updated_at); ``name_like`` is a SQL LIKE pattern."""
        stmt = select(ModelRow)
        if name_like is not None:
            stmt = stmt.where(ModelRow.name.like(name_like))
        columns = {"name": ModelRow.name, "created_at": ModelRow.created_at,
                   "updated_at": ModelRow.updated_at}
        stmt = stmt.order_by(*_ordered(order, columns), ModelRow.id).offset(offset).limit(limit)
        return list(self.session.scalars(stmt))

    def names_by_id(self, model_ids: Iterable[str]) -> dict[str, str]:
        ids = list(set(model_ids))
        if not ids:
            return {}
        stmt = select(ModelRow.id, ModelRow.name).where(ModelRow.id.in_(ids))
        return {ident: name for ident, name in self.session.execute(stmt)}


class ModelVersionRepository(Repository[ModelVersionRow]):
    row = ModelVersionRow
    kind = "model version"

    def next_version(self, model_id: str) -> int:
        stmt = select(func.max(ModelVersionRow.version)).where(
            ModelVersionRow.model_id == model_id
        )
        return int(self.session.scalar(stmt) or 0) + 1

    def get_version(self, model_id: str, version: int) -> ModelVersionRow:
        stmt = select(ModelVersionRow).where(
            ModelVersionRow.model_id == model_id, ModelVersionRow.version == version
        )
        found = self.session.scalars(stmt).first()
        if found is None:
            raise NotFound(f"model version {version} does not exist", kind=self.kind)
        return found

    def latest(self, model_id: str) -> ModelVersionRow | None:
        stmt = (
            select(ModelVersionRow)
            .where(ModelVersionRow.model_id == model_id)
            .order_by(ModelVersionRow.version.desc())
            .limit(1)
        )
        return self.session.scalars(stmt).first()

    def latest_numbers(self, model_ids: Iterable[str]) -> dict[str, int]:
        """The highest version number of each model that has versions."""
        ids = list(model_ids)
        if not ids:
            return {}
        stmt = (
            select(ModelVersionRow.model_id, func.max(ModelVersionRow.version))
            .where(ModelVersionRow.model_id.in_(ids))
            .group_by(ModelVersionRow.model_id)
        )
        return {model_id: int(number) for model_id, number in self.session.execute(stmt)}

    def numbers_by_id(self, version_ids: Iterable[str]) -> dict[str, int]:
        ids = list(set(version_ids))
        if not ids:
            return {}
        stmt = select(ModelVersionRow.id, ModelVersionRow.version).where(
            ModelVersionRow.id.in_(ids)
        )
        return {ident: int(number) for ident, number in self.session.execute(stmt)}

    def list_for_model(
        self, model_id: str, *, limit: int, cursor: str | None = None
    ) -> Page[ModelVersionRow]:
        """Highest version first, keyset-paginated on the version number."""
        stmt = select(ModelVersionRow).where(ModelVersionRow.model_id == model_id)
        if cursor:
            try:
                below = int(decode_cursor(cursor)["v"])
            except (KeyError, TypeError, ValueError):
                raise InvalidInput("invalid page token") from None
            stmt = stmt.where(ModelVersionRow.version < below)
        rows = list(self.session.scalars(stmt.order_by(ModelVersionRow.version.desc()).limit(
            limit + 1
        )))
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = encode_cursor({"v": rows[-1].version})
        return Page(rows, next_cursor)

    def chunk(
        self, *, order: Sequence[tuple[str, bool]], offset: int, limit: int,
        model_id: str | None = None,
    ) -> list[ModelVersionRow]:
        """Versions ``offset`` .. ``offset + limit`` in ``order`` (``[(field, ascending)]``
        over version, created_at, updated_at), one model's or all."""
        stmt = select(ModelVersionRow)
        if model_id is not None:
            stmt = stmt.where(ModelVersionRow.model_id == model_id)
        columns = {
            "version": ModelVersionRow.version, "created_at": ModelVersionRow.created_at,
            "updated_at": func.coalesce(ModelVersionRow.updated_at, ModelVersionRow.created_at),
        }
        stmt = stmt.order_by(*_ordered(order, columns), ModelVersionRow.id)
        stmt = stmt.offset(offset).limit(limit)
        return list(self.session.scalars(stmt))

    def all_of_model(self, model_id: str) -> list[ModelVersionRow]:
        stmt = select(ModelVersionRow).where(ModelVersionRow.model_id == model_id)
        return list(self.session.scalars(stmt.order_by(ModelVersionRow.version)))

    def deployments_serving(self, model_id: str, version_id: str) -> list[str]:
        """Names of the deployments of ``model_id`` whose configuration names ``version_id``."""
        stmt = select(DeploymentRow).where(DeploymentRow.model_id == model_id)
        return sorted(
            row.name for row in self.session.scalars(stmt)
            if row.model_version_id == version_id
            or version_id in json.dumps(getattr(row, "variants", None) or [], default=str)
        )

    def with_stage(self, model_id: str, stage: str) -> list[ModelVersionRow]:
        stmt = select(ModelVersionRow).where(
            ModelVersionRow.model_id == model_id, ModelVersionRow.stage == stage
        )
        return list(self.session.scalars(stmt))

    # -- aliases (children of a model the caller has loaded) ----------------------------
    def aliases_of_models(self, model_ids: Iterable[str]) -> dict[str, dict[str, int]]:
        """``{model_id: {alias: version number}}`` for the given models."""
        ids = list(model_ids)
        result: dict[str, dict[str, int]] = {model_id: {} for model_id in ids}
        if not ids:
            return result
        stmt = (
            select(ModelAliasRow.model_id, ModelAliasRow.alias, ModelVersionRow.version)
            .join(ModelVersionRow, ModelVersionRow.id == ModelAliasRow.version_id)
            .where(ModelAliasRow.model_id.in_(ids))
            .order_by(ModelAliasRow.alias)
        )
        for model_id, alias, version in self.session.execute(stmt):
            result[model_id][alias] = int(version)
        return result

    def aliases_by_version(self, model_id: str) -> dict[str, list[str]]:
        """``{version_id: [alias, ...]}`` for one model, aliases sorted."""
        stmt = (
            select(ModelAliasRow.version_id, ModelAliasRow.alias)
            .where(ModelAliasRow.model_id == model_id)
            .order_by(ModelAliasRow.alias)
        )
        result: dict[str, list[str]] = {}
        for version_id, alias in self.session.execute(stmt):
            result.setdefault(version_id, []).append(alias)
        return result

    def find_by_alias(self, model_id: str, alias: str) -> ModelVersionRow | None:
        stmt = (
            select(ModelVersionRow)
            .join(ModelAliasRow, ModelAliasRow.version_id == ModelVersionRow.id)
            .where(ModelAliasRow.model_id == model_id, ModelAliasRow.alias == alias)
        )
        return self.session.scalars(stmt).first()

    def set_alias(self, model_id: str, alias: str, version_id: str) -> None:
        """Point ``alias`` at ``version_id``, moving it when it already exists."""
        moved = self.session.execute(
            update(ModelAliasRow)
            .where(ModelAliasRow.model_id == model_id, ModelAliasRow.alias == alias)
            .values(version_id=version_id)
        )
        if moved.rowcount == 0:  # type: ignore[attr-defined]
            self.session.add(ModelAliasRow(model_id=model_id, alias=alias, version_id=version_id))

    def delete_alias(self, model_id: str, alias: str) -> bool:
        removed = self.session.execute(
            delete(ModelAliasRow).where(
                ModelAliasRow.model_id == model_id, ModelAliasRow.alias == alias
            )
        )
        return bool(removed.rowcount)  # type: ignore[attr-defined]

    # -- lineage (children of a run the caller has loaded) ------------------------------
    def run_params_and_metrics(self, run_id: str) -> tuple[dict[str, str], dict[str, float]]:
        param_rows = self.session.execute(
            select(ParamRow.key, ParamRow.value).where(ParamRow.run_id == run_id)
        )
        metric_rows = self.session.execute(
            select(LatestMetricRow.key, LatestMetricRow.value).where(
                LatestMetricRow.run_id == run_id
            )
        )
        return (
            {key: value for key, value in param_rows},
            {key: value for key, value in metric_rows},
        )


class LoggedModelRepository(Repository[LoggedModelRow]):
    row = LoggedModelRow
    kind = "logged model"

    def chunk(
        self, *, experiment_ids: Sequence[str], order: Sequence[tuple[str, bool]], offset: int,
        limit: int,
    ) -> list[LoggedModelRow]:
        """Logged models of the experiments, ``offset`` .. ``offset + limit`` in ``order``
        (``[(field, ascending)]`` over name, created_at, updated_at)."""
        stmt = select(LoggedModelRow)
        if experiment_ids:
            stmt = stmt.where(LoggedModelRow.experiment_id.in_(list(experiment_ids)))
        columns = {"name": LoggedModelRow.name, "created_at": LoggedModelRow.created_at,
                   "updated_at": LoggedModelRow.updated_at}
        stmt = stmt.order_by(*_ordered(order, columns), LoggedModelRow.id)
        stmt = stmt.offset(offset).limit(limit)
        return list(self.session.scalars(stmt))

    def add_metrics(self, rows: Sequence[dict[str, Any]]) -> None:
        """Link metric values (``model_id``, ``run_id``, ``key``, ``value``, ``is_nan``,
        ``step``, ``timestamp``, ``dataset_name``, ``dataset_digest``) to logged models of
        this session's tenant; NotFound names the first model that is not one. A value
        already linked (same model, key, step, timestamp and run) stays as it is."""
        owned = self._owned([row["model_id"] for row in rows])
        self.session.execute(self._insert_ignoring_duplicates(LoggedModelMetricRow), [
            {**row, "tenant_id": owned[row["model_id"]].tenant_id} for row in rows])

    def link_to_run(self, run_id: str, direction: str,
                    models: Sequence[tuple[str, int | None]]) -> list[LoggedModelRow]:
        """Record logged models (``(model_id, step)``) of this session's tenant as a run's
        ``input`` or ``output`` and return them; NotFound names the first that is not one.
        The run must have been found through this session. A model already recorded keeps
        its step."""
        owned = self._owned([model_id for model_id, _ in models])
        self.session.execute(self._insert_ignoring_duplicates(RunModelRow), [
            {"run_id": run_id, "model_id": model_id, "direction": direction, "step": step}
            for model_id, step in models])
        return list(owned.values())

    def _owned(self, model_ids: Sequence[str]) -> dict[str, LoggedModelRow]:
        """These logged models of this session's tenant, by id; NotFound for the first that
        is not one."""
        wanted = list(dict.fromkeys(model_ids))
        found = {row.id: row for row in self.session.scalars(
            select(LoggedModelRow).where(LoggedModelRow.id.in_(wanted)))}
        for model_id in wanted:
            if model_id not in found:
                raise NotFound.of(self.kind, model_id)
        return found

    def _insert_ignoring_duplicates(self, row: Any) -> Any:
        dialect = self.session.connection().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        return insert(row.__table__).on_conflict_do_nothing()

    def metrics_of(self, model_ids: Sequence[str]) -> dict[str, list[LoggedModelMetricRow]]:
        """The metric values linked to each of these logged models, in the order logged."""
        found: dict[str, list[LoggedModelMetricRow]] = {model_id: [] for model_id in model_ids}
        if not model_ids:
            return found
        stmt = (select(LoggedModelMetricRow)
                .where(LoggedModelMetricRow.model_id.in_(list(model_ids)))
                .order_by(LoggedModelMetricRow.id))
        for row in self.session.scalars(stmt):
            found[row.model_id].append(row)
        return found


def _ordered(order: Sequence[tuple[str, bool]], columns: dict[str, Any]) -> list[Any]:
    try:
        return [columns[field].asc() if ascending else columns[field].desc()
                for field, ascending in order]
    except KeyError as exc:
        raise InvalidInput(
            f"cannot order by {exc.args[0]!r}; use one of {', '.join(columns)}"
        ) from None
