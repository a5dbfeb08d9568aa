"""Run use cases: create, read, update status, soft delete and restore, search.

A run belongs to an active experiment of the caller's tenant; its parent run and dataset
must be the tenant's too. Reading a run returns its params, the latest value of each metric
and its tags (:class:`RunDetails`); a search page loads those for all its runs in three
queries. Search pages are offsets in an opaque cursor that is bound to the query it came
from, so a cursor replayed against another filter or ordering is refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from maestro_ml.auth.principal import Principal
from maestro_ml.domain.errors import Conflict, InvalidInput, NotFound
from maestro_ml.domain.names import validate_name
from maestro_ml.domain.pagination import decode_cursor, encode_cursor
from maestro_ml.domain.search import parse_filter, parse_order_by
from maestro_ml.domain.tracking import (
    ACTIVE,
    DELETED,
    RUNNING,
    TERMINAL_STATUSES,
    generated_name,
    now_ms,
    validate_int64,
    validate_status,
    validate_tags,
    validate_view,
)

from .ports import UnitOfWorkFactory

MAX_SEARCH_OFFSET = 1_000_000


@dataclass(frozen=True)
class RunDetails:
    """A run with its params, latest metrics and tags (what ``RunRead`` shows)."""

    id: str
    experiment_id: str
    name: str
    status: str
    start_time: int
    end_time: int | None
    parent_run_id: str | None
    dataset_id: str | None
    job_id: str | None
    user_id: str | None
    lifecycle_stage: str
    created_at: datetime
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    # Datasets the run used: {name, digest, source_type, source, schema, profile, tags}.
    inputs: list[dict[str, Any]] = field(default_factory=list)
    # Logged models it used or produced: {model_id, direction ("input"/"output"), step}.
    models: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(
        cls, run: Any, params: dict[str, str], metrics: dict[str, float], tags: dict[str, str],
        inputs: list[dict[str, Any]] | None = None, models: list[dict[str, Any]] | None = None,
    ) -> RunDetails:
        return cls(
            id=run.id, experiment_id=run.experiment_id, name=run.name, status=run.status,
            start_time=run.start_time, end_time=run.end_time, parent_run_id=run.parent_run_id,
            dataset_id=run.dataset_id, job_id=run.job_id, user_id=run.user_id,
            lifecycle_stage=run.lifecycle_stage, created_at=run.created_at,
            params=params, metrics=metrics, tags=tags, inputs=inputs or [],
            models=models or [],
        )


@dataclass(frozen=True)
class RunPage:
    items: list[RunDetails]
    next_cursor: str | None


def details_of(uow: Any, runs: Sequence[Any]) -> list[RunDetails]:
    """Params, latest metrics, tags, inputs and logged models of ``runs``: one query
    whatever their number."""
    found = uow.runs.children_of([run.id for run in runs])
    return [
        RunDetails.of(run, found.params[run.id], found.metrics[run.id], found.tags[run.id],
                      found.inputs[run.id], found.models[run.id])
        for run in runs
    ]


class RunService:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    def create_run(
        self,
        principal: Principal,
        *,
        experiment_id: str,
        name: str | None = None,
        parent_run_id: str | None = None,
        dataset_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        start_time: int | None = None,
    ) -> RunDetails:
        """Start a run (status RUNNING) in an active experiment.

        Example: ``runs.create_run(principal, experiment_id=exp.id, tags={"git": "abc"})``
        """
        name = generated_name("run") if name is None else validate_name(name, "run")
        start = now_ms() if start_time is None else validate_int64(start_time, "start_time")
        checked_tags = validate_tags(tags)
        # Links are checked first; then the run and its tags are one statement on
        # PostgreSQL, its own transaction.
        with self._uow.for_tenant(principal.tenant_id, autocommit=True) as uow:
            if parent_run_id is not None:
                uow.runs.read(parent_run_id)  # the tenant's, or NotFound
            if dataset_id is not None:
                uow.datasets.get(dataset_id)
            run = uow.runs.insert(
                checked_tags, experiment_id=experiment_id, name=name, status=RUNNING,
                start_time=start, parent_run_id=parent_run_id, dataset_id=dataset_id,
                user_id=principal.user_id, lifecycle_stage=ACTIVE,
            )
            if run is None:  # the tenant's experiment (or NotFound), but deleted
                uow.experiments.lifecycle_stage(experiment_id)
                raise Conflict(
                    f"experiment '{experiment_id}' is deleted; restore it before adding runs"
                )
            uow.commit()
            return RunDetails.of(run, {}, {}, checked_tags)

    def get_run(self, principal: Principal, run_id: str) -> RunDetails:
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            return details_of(uow, [uow.runs.read(run_id)])[0]

    def update_run(
        self,
        principal: Principal,
        run_id: str,
        *,
        status: str | None = None,
        end_time: int | None = None,
        name: str | None = None,
        with_data: bool = True,
    ) -> RunDetails:
        """Change the status (a finishing status sets ``end_time`` to now unless given),
        the end time or the name. ``with_data=False`` skips loading params, metrics, tags
        and inputs for callers that answer with the run's own fields only."""
        status = None if status is None else validate_status(status)
        end = None if end_time is None else validate_int64(end_time, "end_time")
        name = None if name is None else validate_name(name, "run")
        changes: dict[str, Any] = {}
        end_unless_set = None  # a finishing run keeps the end time it has, if any
        if status is not None:
            if status in TERMINAL_STATUSES and end is None:
                end_unless_set = now_ms()
            elif end is None:
                changes["end_time"] = None  # running again: it has not ended
            changes["status"] = status
        if end is not None:
            changes["end_time"] = end
        if name is not None:
            changes["name"] = name
        # One UPDATE ... RETURNING: on PostgreSQL its own transaction, one round trip.
        with self._uow.for_tenant(principal.tenant_id, autocommit=True) as uow:
            if changes:
                run = uow.runs.update_fields(run_id, changes, end_time_unless_set=end_unless_set)
            else:
                run = uow.runs.read(run_id)
            details = details_of(uow, [run])[0] if with_data else RunDetails.of(run, {}, {}, {})
            uow.commit()
            return details

    def delete_run(self, principal: Principal, run_id: str) -> None:
        """Soft delete: the run leaves default searches; ``restore_run`` brings it back."""
        self._set_stage(principal, run_id, DELETED)

    def restore_run(self, principal: Principal, run_id: str) -> RunDetails:
        return self._set_stage(principal, run_id, ACTIVE)

    def _set_stage(self, principal: Principal, run_id: str, stage: str) -> RunDetails:
        with self._uow.for_tenant(principal.tenant_id) as uow:
            run = uow.runs.get(run_id)
            run.lifecycle_stage = stage
            details = details_of(uow, [run])[0]
            uow.commit()
            return details

    def search_runs(
        self,
        principal: Principal,
        *,
        experiment_ids: Sequence[str] | None = None,
        filter: str | None = None,  # noqa: A002 - the name clients use (MLflow's too)
        order_by: Sequence[str] | None = None,
        view: str = ACTIVE,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RunPage:
        """Runs matching ``filter`` (the ``domain.search`` language), in ``order_by`` order.

        No ``experiment_ids`` (None or empty) searches every experiment of the tenant.

        Example: ``runs.search_runs(principal, filter="metrics.acc > 0.9",
        order_by=["metrics.acc DESC"], limit=10)``
        """
        clauses = parse_filter(filter)
        order = parse_order_by(list(order_by) if order_by else None)
        view = validate_view(view)
        ids = sorted(set(experiment_ids)) if experiment_ids else None
        query_id = _fingerprint(ids, clauses, order, view)
        offset = _offset_from(cursor, query_id)
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            runs = uow.runs.search(
                experiment_ids=ids, clauses=clauses, order=order, view=view,
                offset=offset, limit=limit + 1,
            )
            more = len(runs) > limit
            items = details_of(uow, runs[:limit])
        next_cursor = encode_cursor({"o": offset + limit, "q": query_id}) if more else None
        return RunPage(items, next_cursor)


def require_run(uow: Any, run_id: str, *, for_writing: bool = True) -> None:
    """Raise unless the run is the tenant's, and (for writing) it and its experiment are active."""
    check_run_states(run_id, uow.runs.states(run_id), for_writing=for_writing)


def check_run_states(run_id: str, states: tuple[str, str] | None, *,
                     for_writing: bool = True) -> None:
    """``require_run`` on (run stage, experiment stage) already read, None if not found."""
    if states is None:
        raise NotFound.of("run", run_id)
    if for_writing and DELETED in states:
        what = "run" if states[0] == DELETED else "experiment of run"
        raise Conflict(f"the {what} '{run_id}' is deleted; restore it before logging to it")


def _fingerprint(ids: Any, clauses: Any, order: Any, view: str) -> str:
    # Parsed forms, so that spacing or keyword case does not make a different query.
    text = repr((ids, clauses, order, view))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _offset_from(cursor: str | None, query_id: str) -> int:
    if not cursor:
        return 0
    values = decode_cursor(cursor)
    offset = values.get("o")
    if values.get("q") != query_id:
        raise InvalidInput(
            "page token belongs to a different search (filter, order_by, experiments or view "
            "changed); start again without a cursor", field="cursor",
        )
    if isinstance(offset, bool) or not isinstance(offset, int) or not (
        0 <= offset <= MAX_SEARCH_OFFSET
    ):
        raise InvalidInput("invalid page token", field="cursor")
    return offset
