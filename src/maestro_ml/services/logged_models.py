"""MLflow 3 logged models: a model's files logged under an experiment (and usually a run),
created PENDING, uploaded through the artifact proxy, then finalized READY.

Registering one (``create_model_version`` with source ``models:/<id>``) copies its files
into a Maestro model version (see :mod:`.registry_sources`); the logged model itself stays
MLflow's record of what was logged. Its files live under the tenant's store key that the
MLflow protocol layer derives from the artifact location.

Metric values logged with a model's id (``log_metric(..., model_id=...)``, written by
:mod:`.run_data`) are the model's metrics: every value, as MLflow lists them. A search can
test them (a model passes ``metrics.acc > 0.9`` when one of its values of ``acc`` does,
optionally only values on named datasets) and order by them (the latest value by
timestamp, then step; models without one last).
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from maestro_ml.auth.principal import Principal
from maestro_ml.domain.errors import InvalidInput, NotFound
from maestro_ml.domain.names import validate_name
from maestro_ml.domain.pagination import encode_cursor

from .ports import ArtifactStore, UnitOfWorkFactory
from .registry import validate_tags
from .registry_search import MAX_SCANNED_ROWS, Facts, SearchPage, offset_of, scan

log = logging.getLogger("maestro_ml.registry")

PENDING = "LOGGED_MODEL_PENDING"
READY = "LOGGED_MODEL_READY"
UPLOAD_FAILED = "LOGGED_MODEL_UPLOAD_FAILED"
FINAL_STATUSES = (READY, UPLOAD_FAILED)
MAX_PARAMS, MAX_PARAM_KEY, MAX_PARAM_VALUE = 1000, 250, 6000


@dataclass(frozen=True)
class ModelMetric:
    """A metric value of a logged model: logged in ``run_id``, on a dataset if named."""

    key: str
    value: float
    step: int
    timestamp: int
    run_id: str
    dataset_name: str | None
    dataset_digest: str | None

    @classmethod
    def of(cls, row: Any) -> ModelMetric:
        return cls(row.key, math.nan if row.is_nan else row.value, row.step, row.timestamp,
                   row.run_id, row.dataset_name, row.dataset_digest)

    def on(self, datasets: Sequence[DatasetFilter]) -> bool:
        """Whether the value was measured on one of ``datasets`` (any value if none)."""
        return not datasets or any(d.matches(self.dataset_name, self.dataset_digest)
                                   for d in datasets)


@dataclass(frozen=True)
class DatasetFilter:
    """A dataset by name, and by digest too if given."""

    name: str
    digest: str | None = None

    def matches(self, name: str | None, digest: str | None) -> bool:
        return name == self.name and (self.digest is None or digest == self.digest)


@dataclass(frozen=True)
class ModelOrder:
    """One key of a logged-model search's order: ``field`` (name, created_at, updated_at)
    or, with ``metric``, that metric's latest value, on ``dataset`` if given."""

    field: str
    ascending: bool = True
    metric: str | None = None
    dataset: DatasetFilter | None = None


@dataclass(frozen=True)
class LoggedModelView:
    id: str
    experiment_id: str
    name: str
    source_run_id: str | None
    model_type: str | None
    status: str
    status_message: str | None
    artifact_location: str
    tags: dict[str, str]
    params: dict[str, str]
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    metrics: tuple[ModelMetric, ...] = ()

    @classmethod
    def of(cls, row: Any, metrics: Sequence[Any] = ()) -> LoggedModelView:
        return cls(
            id=row.id, experiment_id=row.experiment_id, name=row.name,
            source_run_id=row.source_run_id, model_type=row.model_type, status=row.status,
            status_message=row.status_message, artifact_location=row.artifact_location,
            tags=dict(row.tags or {}), params=dict(row.params or {}),
            created_by=row.created_by, created_at=row.created_at, updated_at=row.updated_at,
            metrics=tuple(ModelMetric.of(m) for m in metrics),
        )

    def latest(self, key: str, dataset: DatasetFilter | None) -> float | None:
        """The latest value of metric ``key`` (by timestamp, then step), None if none."""
        values = [m for m in self.metrics
                  if m.key == key and m.on([dataset] if dataset else [])]
        if not values:
            return None
        last = max(values, key=lambda m: (m.timestamp, m.step))
        return None if math.isnan(last.value) else last.value


def validate_params(params: Mapping[str, Any] | None) -> dict[str, str]:
    if not params:
        return {}
    if len(params) > MAX_PARAMS:
        raise InvalidInput(f"params: at most {MAX_PARAMS} parameters", field="params")
    for key, value in params.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_PARAM_KEY:
            raise InvalidInput(f"params: keys must be 1 to {MAX_PARAM_KEY} characters",
                               field="params")
        if not isinstance(value, str) or len(value) > MAX_PARAM_VALUE:
            raise InvalidInput(f"params: the value of '{key}' must be a string of at most "
                               f"{MAX_PARAM_VALUE} characters", field="params")
    return dict(params)


def _now() -> datetime:
    return datetime.now(UTC)


class LoggedModelService:
    def __init__(self, uow: UnitOfWorkFactory, artifacts: ArtifactStore) -> None:
        self._uow = uow
        self._artifacts = artifacts

    def create(
        self, principal: Principal, experiment_id: str, name: str | None, *,
        location_of: Callable[[str, str], str], source_run_id: str | None = None,
        model_type: str | None = None, tags: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> LoggedModelView:
        """A PENDING logged model; ``location_of(experiment_id, model_id)`` is its artifact
        location. E.g. ``create(p, exp_id, "model", location_of=uri, source_run_id=run)``."""
        model_id = f"m-{uuid.uuid4().hex}"
        name = validate_name(name, "logged model") if name else f"model-{model_id[2:10]}"
        tags, params = validate_tags(tags), validate_params(params)
        with self._uow.for_tenant(principal.tenant_id) as uow:
            if uow.experiments.find(experiment_id) is None:
                raise NotFound(f"experiment '{experiment_id[:64]}' does not exist",
                               kind="experiment")
            if source_run_id and uow.runs.find(source_run_id) is None:
                raise NotFound(f"run '{source_run_id[:64]}' does not exist", kind="run")
            row = uow.logged_models.create(
                id=model_id, experiment_id=experiment_id, name=name,
                source_run_id=source_run_id or None, model_type=model_type or None,
                status=PENDING, artifact_location=location_of(experiment_id, model_id),
                tags=tags, params=params, created_by=principal.user_id,
            )
            uow.commit()
            return LoggedModelView.of(row)

    def link_run(self, principal: Principal, run_id: str,
                 outputs: Sequence[tuple[str, int | None]]) -> None:
        """Record logged models (``(model_id, step)``) as outputs of ``run_id``, which
        becomes the source run of each that names none."""
        with self._uow.for_tenant(principal.tenant_id) as uow:
            if uow.runs.find(run_id) is None:
                raise NotFound(f"run '{run_id[:64]}' does not exist", kind="run")
            for row in uow.logged_models.link_to_run(run_id, "output", outputs):
                if row.source_run_id is None:
                    row.source_run_id, row.updated_at = run_id, _now()
            uow.commit()

    def get(self, principal: Principal, model_id: str) -> LoggedModelView:
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            return _views(uow, [uow.logged_models.get(model_id)])[0]

    def finalize(
        self, principal: Principal, model_id: str, status: str | None
    ) -> LoggedModelView:
        """Mark the upload done (READY) or failed (UPLOAD_FAILED)."""

        def apply(row: Any) -> None:
            # Checked once the model is found, so another tenant's id is a 404 whatever the body.
            if status not in FINAL_STATUSES:
                raise InvalidInput(f"status must be one of {', '.join(FINAL_STATUSES)}",
                                   field="status")
            row.status = status

        return self._change(principal, model_id, apply)

    def set_tags(
        self, principal: Principal, model_id: str, tags: Mapping[str, str]
    ) -> LoggedModelView:
        def merge(row: Any) -> None:
            row.tags = validate_tags({**(row.tags or {}), **tags})

        return self._change(principal, model_id, merge)

    def delete_tag(self, principal: Principal, model_id: str, key: str) -> LoggedModelView:
        def remove(row: Any) -> None:
            if key not in (row.tags or {}):
                raise NotFound(f"logged model '{model_id}' has no tag '{key[:250]}'", kind="tag")
            row.tags = {k: v for k, v in row.tags.items() if k != key}

        return self._change(principal, model_id, remove)

    def log_params(
        self, principal: Principal, model_id: str, params: Mapping[str, str]
    ) -> LoggedModelView:
        def merge(row: Any) -> None:
            row.params = validate_params({**(row.params or {}), **params})

        return self._change(principal, model_id, merge)

    def delete(self, principal: Principal, model_id: str, files_key: Callable[[Any], str]) -> None:
        """Delete the logged model and its files (``files_key(view)``: their store key)."""
        with self._uow.for_tenant(principal.tenant_id) as uow:
            row = uow.logged_models.get(model_id)
            key = files_key(LoggedModelView.of(row))
            uow.logged_models.delete(row)
            uow.commit()
        try:
            self._artifacts.delete_prefix(self._artifacts.tenant_key(principal.tenant_id, key))
        except Exception:  # the row is gone; leftover files are only wasted space
            log.warning("could not delete the files of logged model %s", model_id, exc_info=True)

    def search(
        self, principal: Principal, *, experiment_ids: Sequence[str],
        predicate: Callable[[Facts], bool], order: Sequence[ModelOrder], limit: int,
        page_token: str | None = None, datasets: Sequence[DatasetFilter] = (),
    ) -> SearchPage:
        """Logged models of ``experiment_ids`` whose facts (``name``, ``status``,
        ``source_run_id``, ``model_type``, ``tags``, ``params``, and ``metrics`` as
        ``[(key, value)]``) pass ``predicate``. With ``datasets`` only values on those
        datasets count as metrics, and a model needs one to pass."""

        def passes(view: LoggedModelView) -> bool:
            facts = _facts(view, datasets)
            return (not datasets or bool(facts["metrics"])) and predicate(facts)

        offset = offset_of(page_token)
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            def chunk(order_in_sql: Sequence[tuple[str, bool]], at: int, n: int) -> Any:
                return _views(uow, uow.logged_models.chunk(
                    experiment_ids=experiment_ids, order=order_in_sql, offset=at, limit=n))

            if not any(key.metric for key in order):
                in_sql = [(key.field, key.ascending) for key in order]
                views, token = scan(lambda at, n: chunk(in_sql, at, n), passes, offset, limit)
                return SearchPage(views, token)
            # A metric order is the latest value of each model's metric: the models that
            # pass are sorted here (a search is bounded as a scan is).
            matching, _ = scan(lambda at, n: chunk([("created_at", False)], at, n), passes,
                               0, MAX_SCANNED_ROWS)
        ordered = _sorted(matching, order)
        page = ordered[offset:offset + limit]
        more = offset + limit < len(ordered)
        return SearchPage(page, encode_cursor({"o": offset + limit}) if more else None)

    def _change(
        self, principal: Principal, model_id: str, change: Callable[[Any], None]
    ) -> LoggedModelView:
        with self._uow.for_tenant(principal.tenant_id) as uow:
            row = uow.logged_models.get(model_id)
            change(row)
            row.updated_at = _now()
            uow.commit()
            return _views(uow, [row])[0]


def _views(uow: Any, rows: Sequence[Any]) -> list[LoggedModelView]:
    metrics = uow.logged_models.metrics_of([row.id for row in rows])
    return [LoggedModelView.of(row, metrics[row.id]) for row in rows]


def _facts(view: LoggedModelView, datasets: Sequence[DatasetFilter] = ()) -> Facts:
    return {
        "name": view.name, "status": view.status, "source_run_id": view.source_run_id or "",
        "model_type": view.model_type or "", "model_id": view.id,
        "experiment_id": view.experiment_id, "tags": view.tags, "params": view.params,
        "metrics": [(m.key, m.value) for m in view.metrics if m.on(datasets)],
    }


def _sorted(views: list[LoggedModelView], order: Sequence[ModelOrder]) -> list[LoggedModelView]:
    """``views`` in ``order``, values a model lacks last either way; then newest first,
    then by id, as MLflow orders them."""
    keys = [*order]
    if not any(key.field == "created_at" and not key.metric for key in order):
        keys.append(ModelOrder("created_at", ascending=False))
    keys.append(ModelOrder("id"))
    ordered = list(views)
    for key in reversed(keys):  # stable sorts, the least significant key first
        def value(view: LoggedModelView, key: ModelOrder = key) -> Any:
            if key.metric is not None:
                return view.latest(key.metric, key.dataset)
            return getattr(view, key.field)

        present = [v for v in ordered if value(v) is not None]
        present.sort(key=value, reverse=not key.ascending)
        ordered = present + [v for v in ordered if value(v) is None]
    return ordered
