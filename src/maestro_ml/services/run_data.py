"""Logging to runs: params (immutable), metrics (history and latest), tags, batches.

The write path is kept lean because clients call it in tight loops: one run-data unit of
work per call (a driver connection, no ORM session), one lookup of the run filtered on the
caller's tenant (which is what makes another tenant's run a 404), then prepared inserts.
A batch is validated completely before anything is written and is one transaction, so one
bad item writes nothing. Params are immutable, as in
MLflow: logging a key again with the same value is a no-op, with another value a conflict.
Metric values may be NaN or ±infinity.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from maestro_ml.auth.principal import Principal
from maestro_ml.domain.errors import Conflict, InvalidInput, NotFound
from maestro_ml.domain.pagination import decode_cursor, encode_cursor
from maestro_ml.domain.tracking import (
    ACTIVE,
    MAX_BATCH_METRICS,
    MAX_BATCH_PARAMS,
    MAX_BATCH_TAGS,
    now_ms,
    validate_int64,
    validate_key,
    validate_value,
)

from .ports import UnitOfWorkFactory
from .runs import check_run_states, require_run


@dataclass(frozen=True)
class MetricValue:
    key: str
    value: float
    step: int
    timestamp: int


@dataclass(frozen=True)
class ModelLink:
    """The logged model a metric value is also for (MLflow 3), and the dataset it was
    measured on, if named."""

    model_id: str
    dataset_name: str | None = None
    dataset_digest: str | None = None


@dataclass(frozen=True)
class MetricPage:
    items: list[MetricValue]
    next_cursor: str | None


@dataclass(frozen=True)
class LoggedBatch:
    """How many of each were written (params already logged with the same value count)."""

    run_id: str
    params: int
    metrics: int
    tags: int


class RunDataService:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    def log_param(self, principal: Principal, run_id: str, key: str, value: str) -> None:
        """Record a param; the same key again must carry the same value.

        Example: ``run_data.log_param(principal, run.id, "max_depth", "10")``
        """
        params = {validate_key(key, "param"): validate_value(value, "param", key)}
        self._append(principal, run_id, params=params)

    def log_metric(
        self,
        principal: Principal,
        run_id: str,
        key: str,
        value: float,
        step: int = 0,
        timestamp: int | None = None,
        link: ModelLink | None = None,
    ) -> MetricValue:
        """Append a metric value; the run's latest value follows the highest step. With
        ``link`` the value is also the linked logged model's (which must be the tenant's).

        Example: ``run_data.log_metric(principal, run.id, "loss", 0.25, step=3)``
        """
        metric = _metric(key, value, step, timestamp, now_ms())
        self._append(principal, run_id, metrics=[_row(metric)],
                     links=[(metric, link)] if link is not None else None)
        return metric

    def set_tag(self, principal: Principal, run_id: str, key: str, value: str) -> None:
        tags = {validate_key(key, "tag"): validate_value(value, "tag", key)}
        self._append(principal, run_id, tags=tags)

    def _append(self, principal: Principal, run_id: str, *,
                params: dict[str, str] | None = None,
                metrics: list[tuple[str, float, int, int]] | None = None,
                tags: dict[str, str] | None = None,
                links: list[tuple[MetricValue, ModelLink]] | None = None) -> None:
        """Write to an active run of the caller's tenant, all or nothing; ``links``: metric
        values that are also logged models' (the rare case, in a full unit of work)."""
        if links:
            self._append_linked(principal, run_id, params, metrics, tags, links)
            return
        with self._uow.for_run_data(principal.tenant_id) as uow:
            appended = uow.runs.append(
                run_id, ACTIVE, params=params, metrics=metrics or (), tags=tags)
            check_run_states(run_id, appended.states)
            _refuse_changed(run_id, params or {}, appended.changed)
            uow.commit()

    def _append_linked(self, principal: Principal, run_id: str, params: dict[str, str] | None,
                       metrics: list[tuple[str, float, int, int]] | None,
                       tags: dict[str, str] | None,
                       links: list[tuple[MetricValue, ModelLink]]) -> None:
        with self._uow.for_tenant(principal.tenant_id) as uow:
            # The client links a run's values to a model it logs by logging them again with
            # the model's id; the run's history answers each exact value once.
            appended = uow.runs.appends.append(run_id, ACTIVE, params=params,
                                               metrics=metrics or (), tags=tags)
            check_run_states(run_id, appended.states)
            _refuse_changed(run_id, params or {}, appended.changed)
            uow.logged_models.add_metrics([_linked_row(run_id, m, link) for m, link in links])
            uow.commit()

    def delete_tag(self, principal: Principal, run_id: str, key: str) -> None:
        with self._uow.for_tenant(principal.tenant_id) as uow:
            require_run(uow, run_id)
            if not uow.runs.delete_tag(run_id, key):
                raise NotFound(f"run '{run_id}' has no tag '{key}'", kind="tag")
            uow.commit()

    def log_batch(
        self,
        principal: Principal,
        run_id: str,
        *,
        params: Iterable[Mapping[str, Any]] = (),
        metrics: Iterable[Mapping[str, Any]] = (),
        tags: Iterable[Mapping[str, Any]] = (),
    ) -> LoggedBatch:
        """Log params, metrics and tags all-or-nothing; items are ``{"key", "value", ...}``.

        Limits per call: 1000 metrics, 100 params, 100 tags.
        """
        params, metrics, tags = list(params), list(metrics), list(tags)
        _check_limit("metrics", len(metrics), MAX_BATCH_METRICS)
        _check_limit("params", len(params), MAX_BATCH_PARAMS)
        _check_limit("tags", len(tags), MAX_BATCH_TAGS)
        now = now_ms()
        valid_keys: set[str] = set()  # a batch repeats a few keys: each is checked once
        checked_metrics = [
            _metric(m.get("key"), m.get("value"), m.get("step"), m.get("timestamp"), now,
                    valid_keys)
            for m in metrics
        ]
        links = [(checked, link) for checked, m in zip(checked_metrics, metrics, strict=True)
                 if (link := model_link(m)) is not None]
        checked_params = _unique_params(params)
        checked_tags = {  # the last value of a key wins, as if logged one by one
            validate_key(t.get("key"), "tag"): validate_value(t.get("value"), "tag", t.get("key"))
            for t in tags
        }
        self._append(principal, run_id, params=checked_params,
                     metrics=[_row(m) for m in checked_metrics], tags=checked_tags,
                     links=links)
        return LoggedBatch(run_id, len(checked_params), len(checked_metrics), len(checked_tags))

    def log_inputs(
        self, principal: Principal, run_id: str, datasets: Iterable[Mapping[str, Any]],
        models: Sequence[str] = (),
    ) -> int:
        """Record the datasets a run used (MLflow ``log_inputs``); each item holds
        ``name``, ``digest``, ``source_type``, ``source``, optional ``schema``, ``profile``
        and ``tags``. ``models``: ids of logged models the run used, the tenant's. Returns
        how many datasets were given."""
        checked = [_dataset_input(item) for item in datasets]
        _check_limit("datasets", len(checked), MAX_BATCH_INPUTS)
        _check_limit("models", len(models), MAX_BATCH_INPUTS)
        with self._uow.for_tenant(principal.tenant_id) as uow:
            require_run(uow, run_id)
            uow.runs.add_inputs(run_id, checked)
            if models:
                uow.logged_models.link_to_run(run_id, "input", [(m, None) for m in models])
            uow.commit()
        return len(checked)

    def metric_history(
        self, principal: Principal, run_id: str, key: str, *, limit: int,
        cursor: str | None = None,
    ) -> MetricPage:
        """Every value of one metric by step (then timestamp), oldest first."""
        after = _history_position(cursor)
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            require_run(uow, run_id, for_writing=False)
            stored = uow.runs.metric_history(run_id, key, limit=limit + 1, after=after)
        next_cursor = None
        if len(stored) > limit:
            stored = stored[:limit]
            last = stored[-1]
            next_cursor = encode_cursor({"s": last.step, "t": last.timestamp, "i": last.id})
        items = [MetricValue(m.key, m.value, m.step, m.timestamp) for m in stored]
        return MetricPage(items, next_cursor)


MAX_BATCH_INPUTS = 100
_INPUT_LIMITS = {"name": 500, "digest": 64, "source_type": 64, "source": 65_535}
MAX_DATASET_DOCUMENT = 1_000_000  # schema and profile, characters each


def _dataset_input(item: Mapping[str, Any]) -> dict[str, Any]:
    checked: dict[str, Any] = {}
    for field, limit in _INPUT_LIMITS.items():
        value = item.get(field)
        if not isinstance(value, str) or not value or len(value) > limit:
            raise InvalidInput(
                f"dataset {field} must be a non-empty string of at most {limit} characters",
                field=f"datasets.{field}",
            )
        checked[field] = value
    for field, column in (("schema", "dataset_schema"), ("profile", "profile")):
        value = item.get(field)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_DATASET_DOCUMENT):
            raise InvalidInput(
                f"dataset {field} must be a string of at most {MAX_DATASET_DOCUMENT} characters",
                field=f"datasets.{field}",
            )
        checked[column] = value
    tags = item.get("tags") or {}
    if not isinstance(tags, Mapping):
        raise InvalidInput("dataset input tags must be an object", field="datasets.tags")
    checked["tags"] = {
        validate_key(k, "tag"): validate_value(v, "tag", k) for k, v in tags.items()
    }
    return checked


def _metric(
    key: Any, value: Any, step: Any, timestamp: Any, now: int,
    valid_keys: set[str] | None = None,
) -> MetricValue:
    if valid_keys is None or not isinstance(key, str) or key not in valid_keys:
        key = validate_key(key, "metric")
        if valid_keys is not None:
            valid_keys.add(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"value of metric '{key}' must be a number", field="value")
    try:
        number = float(value)
    except OverflowError:
        raise InvalidInput(f"value of metric '{key}' is too large", field="value") from None
    step = 0 if step is None else validate_int64(step, "step")
    timestamp = now if timestamp is None else validate_int64(timestamp, "timestamp")
    return MetricValue(key, number, step, timestamp)


_LINK_LIMITS = {"model_id": 64, "dataset_name": 500, "dataset_digest": 64}
LINK_FIELDS = tuple(_LINK_LIMITS)  # what a metric item may carry to link it to a model
_LINK_FIELD_SET = frozenset(LINK_FIELDS)


def model_link(item: Mapping[str, Any]) -> ModelLink | None:
    """The ``model_id`` (with ``dataset_name`` and ``dataset_digest``) an item names, if
    any; empty strings count as absent, as in MLflow's messages."""
    if _LINK_FIELD_SET.isdisjoint(item):
        return None  # the common case, checked once per item of a batch
    checked: dict[str, str | None] = {}
    for field, limit in _LINK_LIMITS.items():
        value = item.get(field)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            raise InvalidInput(f"{field} must be a string of at most {limit} characters",
                               field=field)
        checked[field] = value or None
    model_id = checked.pop("model_id")
    return None if model_id is None else ModelLink(model_id, **checked)


def _linked_row(run_id: str, metric: MetricValue, link: ModelLink) -> dict[str, Any]:
    is_nan = metric.value != metric.value
    return {"model_id": link.model_id, "run_id": run_id, "key": metric.key,
            "value": 0.0 if is_nan else metric.value, "is_nan": is_nan, "step": metric.step,
            "timestamp": metric.timestamp, "dataset_name": link.dataset_name,
            "dataset_digest": link.dataset_digest}


def _row(metric: MetricValue) -> tuple[str, float, int, int]:
    return (metric.key, metric.value, metric.step, metric.timestamp)


def _unique_params(params: list[Mapping[str, Any]]) -> dict[str, str]:
    checked: dict[str, str] = {}
    for item in params:
        key = validate_key(item.get("key"), "param")
        value = validate_value(item.get("value"), "param", key)
        if checked.get(key, value) != value:
            raise InvalidInput(
                f"param '{key}' appears twice in the batch with different values", field="params"
            )
        checked[key] = value
    return checked


def _refuse_changed(run_id: str, wanted: dict[str, str], changed: dict[str, str]) -> None:
    if changed:
        key, stored = next(iter(changed.items()))
        raise Conflict(
            f"param '{key}' of run '{run_id}' is already '{stored[:200]}' and params cannot "
            f"change (got '{wanted[key][:200]}'); log it under another key or start a new run",
            key=key,
        )


def _check_limit(what: str, count: int, limit: int) -> None:
    if count > limit:
        raise InvalidInput(
            f"a batch may hold at most {limit} {what}, got {count}; split it into several calls",
            field=what, limit=limit,
        )


def _history_position(cursor: str | None) -> tuple[int, int, int] | None:
    if not cursor:
        return None
    values = decode_cursor(cursor)
    try:
        position = (values["s"], values["t"], values["i"])
    except KeyError:
        raise InvalidInput("invalid page token", field="cursor") from None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in position):
        raise InvalidInput("invalid page token", field="cursor")
    return position
