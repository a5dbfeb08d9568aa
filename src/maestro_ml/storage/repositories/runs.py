"""Repository of runs and their children: params, metrics (history and latest), tags, search.

Children carry no tenant column, so every method taking a ``run_id`` expects the caller to
have found that run through the tenant-scoped session first (``states`` or ``get``). Params,
tags and metrics are appended by ``run_appends`` on this session's connection. The latest
value of each metric replaces a row only with a later (step, timestamp); on an exact tie the
last write wins. NaN is stored as ``value = 0`` with ``is_nan`` set (SQLite would store NaN
as NULL); this module restores it on the way out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    BigInteger,
    String,
    Text,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal_column,
    null,
    or_,
    select,
    true,
    tuple_,
    union_all,
    update,
)
from sqlalchemy import text as text_clause
from sqlalchemy.dialects import postgresql, sqlite

from maestro_ml.domain.errors import NotFound, PermissionDenied
from maestro_ml.domain.search import Clause, OrderKey

from ..search_sql import apply_order, driving_metric, filter_condition
from ..tables import ExperimentRow, LatestMetricRow, MetricRow, ParamRow, RunRow, RunTagRow
from ..tables.base import new_id, utcnow
from ..tables.tracking import RunInputRow, RunModelRow
from ..tenancy import TENANT_KEY
from .base import Repository
from .run_appends import RunAppends

_PARAMS = ParamRow.__table__
_TAGS = RunTagRow.__table__
_METRICS = MetricRow.__table__
_LATEST = LatestMetricRow.__table__
_INPUTS = RunInputRow.__table__
_MODELS = RunModelRow.__table__
ACTIVE, DELETED = "active", "deleted"

# Statements built once: a statement built per call is compiled per call too. They run on
# the session's connection, past the ORM's per-statement machinery; one that reads the
# tenant-scoped runs table therefore names the tenant itself (``first_scoped``).
_RUNS = RunRow.__table__
_RUN_ANY_TENANT = select(_RUNS).where(_RUNS.c.id == bindparam("run_id"))
_RUN = _RUN_ANY_TENANT.where(_RUNS.c.tenant_id == bindparam("tenant_id"))


# A run is created only in an active experiment of its tenant: INSERT ... SELECT from
# that experiment, so the check and the write are one statement. On PostgreSQL the run's
# tags are inserted by the same statement, from two arrays.
def _create_run() -> Any:
    experiments = ExperimentRow.__table__
    names = [column.name for column in _RUNS.c]
    row = [experiments.c.id if name == "experiment_id"
           else bindparam(name, type_=_RUNS.c[name].type) for name in names]
    source = select(*row).where(
        experiments.c.id == bindparam("experiment_id"),
        experiments.c.tenant_id == bindparam("tenant_id"),
        experiments.c.lifecycle_stage == ACTIVE,
    )
    return insert(_RUNS).from_select(names, source)


def _pg_create_run() -> Any:
    run = _create_run().returning(_RUNS.c.id).cte("run")
    tags = func.unnest(
        cast(bindparam("tag_key"), postgresql.ARRAY(Text())),
        cast(bindparam("tag_value"), postgresql.ARRAY(Text())),
    ).table_valued("key", "value").render_derived()
    insert_tags = insert(_TAGS).from_select(
        ["run_id", "key", "value"],
        select(run.c.id, tags.c.key, tags.c.value).select_from(run).join(tags, true()),
    ).cte("tags")
    return select(run.c.id).add_cte(insert_tags)


_CREATE_RUN = _create_run()
_PG_CREATE_RUN = _pg_create_run()


@cache  # a few shapes: which columns change, and whether the end time is the database's
def _update_run(columns: frozenset[str], end_unless_set: bool, with_tenant: bool) -> Any:
    """``UPDATE runs SET ... RETURNING *`` with every value bound (``new_<column>``).

    Built once per shape: a statement built per call costs its cache key each time, more
    than the rest of its execution on the client.
    """
    values: dict[str, Any] = {
        name: bindparam(f"new_{name}", type_=_RUNS.c[name].type) for name in columns}
    if end_unless_set:
        values["end_time"] = func.coalesce(func.nullif(_RUNS.c.end_time, 0),
                                           bindparam("end_unless_set", type_=BigInteger()))
    stmt = update(_RUNS).where(_RUNS.c.id == bindparam("run_id"))
    if with_tenant:
        stmt = stmt.where(_RUNS.c.tenant_id == bindparam("of_tenant"))
    return stmt.values(values).returning(*_RUNS.c)


# Params, latest metrics, tags, dataset inputs and logged models of a list of runs in one
# statement (one round trip to the server instead of five), each row tagged with its kind;
# the union's columns are typed by its first select, so every NULL filler is cast to its
# column's type. A model's row carries its direction as text and its step as ordinal.
def _children_union() -> Any:
    def filler(column: Any) -> Any:
        return cast(null(), column.type)

    i = _INPUTS.c
    shape = (i.digest, i.source_type, i.source, i.dataset_schema, i.profile, i.tags)

    def child(kind: str, table: Any, key: Any, text: Any, number: Any, is_nan: Any,
              ordinal: Any, extra: Any = None) -> Any:
        columns = extra if extra is not None else [filler(c) for c in shape]
        return select(
            literal_column(f"'{kind}'", String).label("kind"), table.c.run_id, key.label("key"),
            (text if text is not None else filler(_PARAMS.c.value)).label("text"),
            (number if number is not None else filler(_LATEST.c.value)).label("number"),
            (is_nan if is_nan is not None else filler(_LATEST.c.is_nan)).label("is_nan"),
            *columns, ordinal.label("ordinal"),
        ).where(table.c.run_id.in_(bindparam("run_ids", expanding=True)))

    zero = literal_column("0", _INPUTS.c.id.type)
    return union_all(
        child("param", _PARAMS, _PARAMS.c.key, _PARAMS.c.value, None, None, zero),
        child("metric", _LATEST, _LATEST.c.key, None, _LATEST.c.value, _LATEST.c.is_nan, zero),
        child("tag", _TAGS, _TAGS.c.key, _TAGS.c.value, None, None, zero),
        child("input", _INPUTS, i.name, None, None, None, i.id, list(shape)),
        child("model", _MODELS, _MODELS.c.model_id, _MODELS.c.direction, None, None,
              cast(_MODELS.c.step, _INPUTS.c.id.type)),
    ).order_by(text_clause("ordinal"))


_CHILDREN_OF = _children_union()
# Run ids per children query. A statement takes at most 65,535 parameters on PostgreSQL
# (each id bound once) and, by default, 32,766 on SQLite (each id bound four times); an
# MLflow search page holds up to 50,000 runs.
CHILDREN_CHUNK = 5000


@dataclass(frozen=True, slots=True)
class RunChildren:
    """Params, latest metrics, tags, dataset inputs and logged models of some runs, by run
    id; ``models``: ``{"model_id", "direction" ("input" or "output"), "step"}``."""

    params: dict[str, dict[str, str]]
    metrics: dict[str, dict[str, float]]
    tags: dict[str, dict[str, str]]
    inputs: dict[str, list[dict[str, Any]]]
    models: dict[str, list[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class StoredMetric:
    """One logged metric value as read back (NaN restored)."""

    key: str
    value: float
    step: int
    timestamp: int
    id: int = 0


class RunRepository(Repository[RunRow]):
    row = RunRow
    kind = "run"

    # -- lookups --------------------------------------------------------------------------
    def states(self, run_id: str) -> tuple[str, str] | None:
        """(run stage, experiment stage) of a run of this tenant, or None: one query."""
        return self.appends.states(run_id)

    def read(self, run_id: str) -> Any:
        """A run of this tenant as a read-only row (the run's columns as attributes)."""
        return self.get_scoped(_RUN, _RUN_ANY_TENANT, "run_id", run_id)

    # -- the run itself by Core statements: no identity map, no flush ---------------------
    def insert(self, tags: dict[str, str], **fields: Any) -> SimpleNamespace | None:
        """Create a run with ``tags`` in an active experiment of this session's tenant.

        The run's columns come back as attributes; None if the experiment
        (``fields["experiment_id"]``) is not this tenant's or not active, and then nothing
        was written. On PostgreSQL run and tags are one statement (its own transaction
        under ``autocommit``); on SQLite two, in the caller's transaction.
        """
        values = {"id": new_id(), "created_at": utcnow(), "end_time": None,
                  "parent_run_id": None, "dataset_id": None, "job_id": None,
                  "user_id": None, **fields}
        values["tenant_id"] = self._tenant_id(values.get("tenant_id"))
        connection = self.session.connection()
        if connection.dialect.name == "postgresql":
            created = connection.execute(_PG_CREATE_RUN, {
                **values, "tag_key": list(tags), "tag_value": list(tags.values())}).first()
            return SimpleNamespace(**values) if created is not None else None
        if connection.execute(_CREATE_RUN, values).rowcount != 1:
            return None
        self.appends.set_tags(values["id"], tags)
        return SimpleNamespace(**values)

    def update_fields(self, run_id: str, values: dict[str, Any], *,
                      end_time_unless_set: int | None = None) -> Any:
        """Set some of a run's own columns in one statement; the run's row as it now is.

        ``end_time_unless_set``: the end time for a run that has none yet (0 counts as
        none), decided by the database against the row it updates. NotFound if the run is
        not this tenant's.
        """
        if not isinstance(run_id, str) or not run_id:
            raise NotFound.of(self.kind, run_id)
        tenant_id = self.session.info.get(TENANT_KEY)
        stmt = _update_run(frozenset(values), end_time_unless_set is not None,
                           tenant_id is not None)
        found = self.session.connection().execute(stmt, {
            **{f"new_{name}": value for name, value in values.items()},
            "run_id": run_id, "of_tenant": tenant_id, "end_unless_set": end_time_unless_set,
        }).first()
        if found is None:
            raise NotFound.of(self.kind, run_id)
        return found

    def _tenant_id(self, given: str | None) -> str:
        tenant_id = self.session.info.get(TENANT_KEY)
        if tenant_id is None and given is None:
            raise ValueError("system work must name the run's tenant")
        if tenant_id is not None and given not in (None, tenant_id):
            raise PermissionDenied("cannot write an object into another tenant")
        return str(tenant_id or given)

    def children_of(self, run_ids: Sequence[str]) -> RunChildren:
        """Params, latest metrics, tags and inputs of runs found through this session."""
        found = RunChildren({r: {} for r in run_ids}, {r: {} for r in run_ids},
                            {r: {} for r in run_ids}, {r: [] for r in run_ids},
                            {r: [] for r in run_ids})
        connection = self.session.connection()
        rows = (row for start in range(0, len(run_ids), CHILDREN_CHUNK)
                for row in connection.execute(
                    _CHILDREN_OF, {"run_ids": list(run_ids[start:start + CHILDREN_CHUNK])}))
        for kind, run_id, key, text, number, is_nan, *dataset, ordinal in rows:
            if kind == "param":
                found.params[run_id][key] = text
            elif kind == "metric":
                found.metrics[run_id][key] = math.nan if is_nan else number
            elif kind == "tag":
                found.tags[run_id][key] = text
            elif kind == "model":
                found.models[run_id].append({"model_id": key, "direction": text, "step": ordinal})
            else:
                digest, source_type, source, schema, profile, tags = dataset
                found.inputs[run_id].append({
                    "name": key, "digest": digest, "source_type": source_type,
                    "source": source, "schema": schema, "profile": profile, "tags": tags or {},
                })
        return found

    # -- params, tags, metrics: appends on the driver (run_appends) -------------------------
    @cached_property
    def appends(self) -> RunAppends:
        """The appends, on this session's connection and so in its transaction."""
        connection = self.session.connection()
        return RunAppends(connection.connection.driver_connection, connection.dialect.name,
                          self.session.info.get(TENANT_KEY))

    def add_params(self, run_id: str, params: dict[str, str]) -> dict[str, str]:
        """Insert new params; return ``{key: stored}`` where a key holds another value."""
        return self.appends.add_params(run_id, params)

    def delete_tag(self, run_id: str, key: str) -> bool:
        stmt = delete(_TAGS).where(_TAGS.c.run_id == run_id, _TAGS.c.key == key)
        return bool(self.session.execute(stmt).rowcount)

    def add_metrics(self, run_id: str, metrics: Iterable[tuple[str, float, int, int]]) -> None:
        """Append ``(key, value, step, timestamp)`` values and bring latest_metrics up to date."""
        self.appends.add_metrics(run_id, metrics)

    def metric_history(
        self, run_id: str, key: str, *, limit: int, after: tuple[int, int, int] | None = None
    ) -> list[StoredMetric]:
        """Values of one metric by (step, timestamp), oldest first, after a keyset position.

        A value logged again exactly (same value, step and timestamp: a client's retry of a
        call that had landed, or ``log_model`` linking the run's values to a model) is
        answered once, as its first copy, as MLflow's key on every column makes it. Appends
        never read before writing, so copies are skipped here, while reading in order:
        copies share a (step, timestamp), so a page reads the rows it answers, the copies
        among them and, after a cursor, the earlier rows of the cursor's (step, timestamp).
        (A ``NOT EXISTS`` over earlier copies is one statement, but its plan depends on the
        table's statistics: without them PostgreSQL compares every pair of the key's values.)
        """
        c = _METRICS.c
        ordered = (
            select(c.key, c.value, c.is_nan, c.step, c.timestamp, c.id)
            .where(c.run_id == run_id, c.key == key)
            .order_by(c.step, c.timestamp, c.id)
            .limit(limit)
        )
        position: Any = None if after is None else tuple_(c.step, c.timestamp) >= tuple_(*after[:2])
        found: list[StoredMetric] = []
        group, answered = None, set()  # the (step, timestamp) being read, its values so far
        while True:
            rows = self.session.execute(
                ordered if position is None else ordered.where(position)).all()
            for k, value, is_nan, step, timestamp, ident in rows:
                if (step, timestamp) != group:
                    group, answered = (step, timestamp), set()
                if (value, is_nan) in answered:
                    continue  # a copy
                answered.add((value, is_nan))
                if after is not None and (step, timestamp, ident) <= after:
                    continue  # answered on an earlier page
                found.append(StoredMetric(k, math.nan if is_nan else value, step, timestamp,
                                          ident))
                if len(found) == limit:
                    return found
            if len(rows) < limit:
                return found
            last = rows[-1]
            position = tuple_(c.step, c.timestamp, c.id) > tuple_(last.step, last.timestamp,
                                                                 last.id)

    # -- dataset inputs -------------------------------------------------------------------
    def add_inputs(self, run_id: str, inputs: Sequence[dict[str, Any]]) -> None:
        """Record datasets the run used; one already recorded (same name and digest) stays."""
        if not inputs:
            return
        rows = [{"run_id": run_id, **item} for item in inputs]
        self.session.execute(self._upsert(_INPUTS).values(rows).on_conflict_do_nothing())

    # -- search ---------------------------------------------------------------------------
    def search(
        self,
        *,
        experiment_ids: Sequence[str] | None,
        clauses: Sequence[Clause],
        order: list[OrderKey],
        view: str,
        offset: int,
        limit: int,
    ) -> list[RunRow]:
        """Runs matching every clause, ordered, one page by offset.

        ``view`` is active (the run and its experiment are active), deleted (either one is
        deleted) or all.
        """
        stmt = select(RunRow)
        if experiment_ids is not None:
            stmt = stmt.where(RunRow.experiment_id.in_(list(experiment_ids)))
        active_experiments = select(ExperimentRow.id).where(
            ExperimentRow.lifecycle_stage == ACTIVE
        )
        if view == ACTIVE:
            stmt = stmt.where(
                RunRow.lifecycle_stage == ACTIVE, RunRow.experiment_id.in_(active_experiments)
            )
        elif view == DELETED:
            stmt = stmt.where(
                or_(
                    RunRow.lifecycle_stage == DELETED,
                    RunRow.experiment_id.not_in(active_experiments),
                )
            )
        dialect = self.session.get_bind().dialect.name
        stmt, rest, driving = driving_metric(stmt, list(clauses), order)
        stmt = stmt.where(*(filter_condition(clause, dialect) for clause in rest))
        stmt = apply_order(stmt, order, driving).offset(offset).limit(limit)
        return list(self.session.scalars(stmt))

    # -- internals ------------------------------------------------------------------------
    def _dialect(self) -> str:
        return str(self.session.get_bind().dialect.name)

    def _upsert(self, table: Any) -> Any:
        return (postgresql if self._dialect() == "postgresql" else sqlite).insert(table)
