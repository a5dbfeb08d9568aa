"""Repository of runs and their children: params, metrics (history and latest), tags, search.

Children carry no tenant column, so every method taking a ``run_id`` expects the caller to
have found that run through the tenant-scoped session first (``states`` or ``get``). Writes
to children are Core statements (no identity map on the hot logging path). The latest value
of each metric is kept by a dialect upsert that replaces a row only with a later
(step, timestamp); on an exact tie the last write wins. NaN is stored as ``value = 0`` with
``is_nan`` set (SQLite would store NaN as NULL); this module restores it on the way out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    String,
    Text,
    and_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    or_,
    select,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite

from maestro_ml.domain.search import Clause, OrderKey

from ..search_sql import apply_order, driving_metric, filter_condition
from ..tables import ExperimentRow, LatestMetricRow, MetricRow, ParamRow, RunRow, RunTagRow
from ..tables.tracking import RunInputRow
from .base import Repository

_PARAMS = ParamRow.__table__
_TAGS = RunTagRow.__table__
_METRICS = MetricRow.__table__
_LATEST = LatestMetricRow.__table__
_INPUTS = RunInputRow.__table__
ACTIVE, DELETED = "active", "deleted"

# The logging path's statements, built once: a statement built per call is compiled per
# call too (an upsert's ``excluded`` alone costs more than the insert it guards). They run
# on the session's connection, past the ORM's per-statement machinery; those that read the
# tenant-scoped runs table therefore name the tenant themselves (``first_scoped``).
_RUNS, _EXPERIMENTS = RunRow.__table__, ExperimentRow.__table__
_STATES_ANY_TENANT = (
    select(_RUNS.c.lifecycle_stage, _EXPERIMENTS.c.lifecycle_stage)
    .join(_EXPERIMENTS, _EXPERIMENTS.c.id == _RUNS.c.experiment_id)
    .where(_RUNS.c.id == bindparam("run_id"))
)
_STATES = _STATES_ANY_TENANT.where(_RUNS.c.tenant_id == bindparam("tenant_id"))
_RUN_ANY_TENANT = select(_RUNS).where(_RUNS.c.id == bindparam("run_id"))
_RUN = _RUN_ANY_TENANT.where(_RUNS.c.tenant_id == bindparam("tenant_id"))
_INSERT_METRICS = insert(_METRICS)
# A metric row as the logging path carries it: a tuple in this order (the table's).
_ROW = ("run_id", "key", "value", "is_nan", "step", "timestamp")
_KEY, _STEP, _TIMESTAMP = _ROW.index("key"), _ROW.index("step"), _ROW.index("timestamp")
# A metric batch on SQLite goes to the driver's executemany as those tuples: SQLAlchemy's
# per-row parameter processing costs more than SQLite's insert of the row itself. The text
# is compiled from the same statement once, so it follows the table definition.
_SQLITE_METRICS_COMPILED = _INSERT_METRICS.compile(dialect=sqlite.dialect(), column_keys=_ROW)
_SQLITE_INSERT_METRICS = _SQLITE_METRICS_COMPILED.string
if tuple(_SQLITE_METRICS_COMPILED.positiontup or ()) != _ROW:  # the table's columns moved
    raise RuntimeError(f"metric rows must follow the insert's placeholders: {_ROW}")


def _pg_unnest_insert(table: Any, arrays: tuple[str, ...]) -> Any:
    """``INSERT ... SELECT :run_id, * FROM unnest(arrays)``: a batch as one array per column.

    psycopg's executemany sends one INSERT per row, and a multi-row VALUES statement is
    compiled anew for each batch size; this is one statement whatever the batch, and its
    text never changes, so the server plans it once. The run id is one scalar; strings
    travel as ``text[]`` (a cast to ``varchar(n)[]`` would truncate where the column must
    refuse).
    """
    typed = [
        cast(bindparam(name), postgresql.ARRAY(
            Text() if isinstance(table.c[name].type, String) else table.c[name].type))
        for name in arrays
    ]
    source = func.unnest(*typed).table_valued(*arrays).render_derived()
    run_id = cast(bindparam("run_id"), table.c.run_id.type)
    return postgresql.insert(table).from_select(
        ["run_id", *arrays], select(run_id, *[source.c[n] for n in arrays])
    )


_PG_ARRAY_COLUMNS = ("key", "value", "is_nan", "step", "timestamp")
_PG_INSERT_METRICS = _pg_unnest_insert(_METRICS, _PG_ARRAY_COLUMNS)
# rowcount (how many were new) is kept only for UPDATE and DELETE unless asked for.
_PG_INSERT_PARAMS = _pg_unnest_insert(_PARAMS, ("key", "value")).on_conflict_do_nothing(
).execution_options(preserve_rowcount=True)


def _dialect_module(dialect: str) -> Any:
    return postgresql if dialect == "postgresql" else sqlite


def _build_latest_upsert(dialect: str, stmt: Any = None) -> Any:
    stmt = _dialect_module(dialect).insert(_LATEST) if stmt is None else stmt
    new = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=[_LATEST.c.run_id, _LATEST.c.key],
        set_={"value": new.value, "is_nan": new.is_nan, "step": new.step,
              "timestamp": new.timestamp},
        where=or_(
            new.step > _LATEST.c.step,
            and_(new.step == _LATEST.c.step, new.timestamp >= _LATEST.c.timestamp),
        ),
    )


def _build_tag_upsert(dialect: str) -> Any:
    stmt = _dialect_module(dialect).insert(_TAGS)
    return stmt.on_conflict_do_update(
        index_elements=[_TAGS.c.run_id, _TAGS.c.key], set_={"value": stmt.excluded.value}
    )


_LATEST_UPSERT = {name: _build_latest_upsert(name) for name in ("sqlite", "postgresql")}
# Latest values, one row per key (deduplicated before): one statement on PostgreSQL too.
_PG_LATEST_UPSERT = _build_latest_upsert(
    "postgresql", _pg_unnest_insert(_LATEST, _PG_ARRAY_COLUMNS))
_TAG_UPSERT = {name: _build_tag_upsert(name) for name in ("sqlite", "postgresql")}


def _of_runs(table: Any, *columns: Any) -> Any:
    """A child table's columns for a list of runs, built once (``run_ids`` expands)."""
    return select(*columns).where(table.c.run_id.in_(bindparam("run_ids", expanding=True)))


_PARAMS_OF = _of_runs(_PARAMS, _PARAMS.c.run_id, _PARAMS.c.key, _PARAMS.c.value)
_TAGS_OF = _of_runs(_TAGS, _TAGS.c.run_id, _TAGS.c.key, _TAGS.c.value)
_LATEST_OF = _of_runs(_LATEST, _LATEST.c.run_id, _LATEST.c.key, _LATEST.c.value,
                      _LATEST.c.is_nan)
_INPUTS_OF = _of_runs(
    _INPUTS, _INPUTS.c.run_id, _INPUTS.c.name, _INPUTS.c.digest, _INPUTS.c.source_type,
    _INPUTS.c.source, _INPUTS.c.dataset_schema, _INPUTS.c.profile, _INPUTS.c.tags,
).order_by(_INPUTS.c.id)


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
        if not isinstance(run_id, str) or not run_id:
            return None
        found = self.first_scoped(_STATES, _STATES_ANY_TENANT, {"run_id": run_id})
        return None if found is None else (found[0], found[1])

    def read(self, run_id: str) -> Any:
        """A run of this tenant as a read-only row (the run's columns as attributes)."""
        return self.get_scoped(_RUN, _RUN_ANY_TENANT, "run_id", run_id)

    def params_of(self, run_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        return self._key_values(_PARAMS_OF, run_ids)

    def tags_of(self, run_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        return self._key_values(_TAGS_OF, run_ids)

    def metrics_of(self, run_ids: Sequence[str]) -> dict[str, dict[str, float]]:
        """Latest value of every metric of each run."""
        result: dict[str, dict[str, float]] = {run_id: {} for run_id in run_ids}
        if run_ids:
            for run_id, key, value, is_nan in self._children(_LATEST_OF, run_ids):
                result[run_id][key] = math.nan if is_nan else value
        return result

    def _key_values(self, stmt: Any, run_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        result: dict[str, dict[str, str]] = {run_id: {} for run_id in run_ids}
        if run_ids:
            for run_id, key, value in self._children(stmt, run_ids):
                result[run_id][key] = value
        return result

    def _children(self, stmt: Any, run_ids: Sequence[str]) -> Any:
        """Rows of a child table for runs found through the tenant-scoped session."""
        return self.session.connection().execute(stmt, {"run_ids": list(run_ids)})

    # -- params ---------------------------------------------------------------------------
    def add_params(self, run_id: str, params: dict[str, str]) -> dict[str, str]:
        """Insert params not yet logged; return ``{key: stored}`` where a key holds another value.

        One statement when every key is new (the common case); a second read otherwise.
        """
        if not params:
            return {}
        if self._dialect() == "postgresql":
            arrays = {"run_id": run_id, "key": list(params), "value": list(params.values())}
            inserted = self.session.connection().execute(_PG_INSERT_PARAMS, arrays).rowcount
        else:
            rows = [{"run_id": run_id, "key": k, "value": v} for k, v in params.items()]
            stmt = self._upsert(_PARAMS).values(rows).on_conflict_do_nothing()
            inserted = self.session.execute(stmt).rowcount
        if inserted == len(params):
            return {}
        existing = select(_PARAMS.c.key, _PARAMS.c.value).where(
            _PARAMS.c.run_id == run_id, _PARAMS.c.key.in_(list(params))
        )
        return {k: v for k, v in self.session.execute(existing) if params[k] != v}

    # -- tags -----------------------------------------------------------------------------
    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        if not tags:
            return
        rows = [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()]
        self.session.connection().execute(_TAG_UPSERT[self._dialect()], rows)

    def delete_tag(self, run_id: str, key: str) -> bool:
        stmt = delete(_TAGS).where(_TAGS.c.run_id == run_id, _TAGS.c.key == key)
        return bool(self.session.execute(stmt).rowcount)

    # -- metrics --------------------------------------------------------------------------
    def add_metrics(self, run_id: str, metrics: Iterable[tuple[str, float, int, int]]) -> None:
        """Append ``(key, value, step, timestamp)`` values and bring latest_metrics up to date."""
        rows = [_metric_row(run_id, *metric) for metric in metrics]
        if not rows:
            return
        connection = self.session.connection()
        dialect = connection.dialect.name
        if dialect == "sqlite":  # the driver's executemany, rows as tuples
            connection.exec_driver_sql(_SQLITE_INSERT_METRICS, rows)
        elif len(rows) == 1:
            connection.execute(_INSERT_METRICS, dict(zip(_ROW, rows[0], strict=True)))
        else:  # PostgreSQL: one unnest statement, not one INSERT per row
            connection.execute(_PG_INSERT_METRICS, _pg_arrays(run_id, rows))
        latest: dict[str, tuple[Any, ...]] = {}
        for row in rows:  # one row per key: the latest of each key in this call
            held = latest.get(row[_KEY])
            if held is None or (row[_STEP], row[_TIMESTAMP]) >= (held[_STEP], held[_TIMESTAMP]):
                latest[row[_KEY]] = row
        if len(latest) > 1 and dialect == "postgresql":
            connection.execute(_PG_LATEST_UPSERT, _pg_arrays(run_id, list(latest.values())))
        else:
            connection.execute(_LATEST_UPSERT[dialect],
                               [dict(zip(_ROW, row, strict=True)) for row in latest.values()])

    def metric_history(
        self, run_id: str, key: str, *, limit: int, after: tuple[int, int, int] | None = None
    ) -> list[StoredMetric]:
        """Values of one metric by (step, timestamp), oldest first, after a keyset position."""
        c = _METRICS.c
        stmt = select(c.key, c.value, c.is_nan, c.step, c.timestamp, c.id).where(
            c.run_id == run_id, c.key == key
        )
        if after is not None:
            stmt = stmt.where(tuple_(c.step, c.timestamp, c.id) > tuple_(*after))
        stmt = stmt.order_by(c.step, c.timestamp, c.id).limit(limit)
        return [
            StoredMetric(k, math.nan if is_nan else value, step, timestamp, ident)
            for k, value, is_nan, step, timestamp, ident in self.session.execute(stmt)
        ]

    # -- dataset inputs -------------------------------------------------------------------
    def add_inputs(self, run_id: str, inputs: Sequence[dict[str, Any]]) -> None:
        """Record datasets the run used; one already recorded (same name and digest) stays."""
        if not inputs:
            return
        rows = [{"run_id": run_id, **item} for item in inputs]
        self.session.execute(self._upsert(_INPUTS).values(rows).on_conflict_do_nothing())

    def inputs_of(self, run_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        result: dict[str, list[dict[str, Any]]] = {run_id: [] for run_id in run_ids}
        if run_ids:
            for row in self._children(_INPUTS_OF, run_ids):
                result[row.run_id].append({
                    "name": row.name, "digest": row.digest, "source_type": row.source_type,
                    "source": row.source, "schema": row.dataset_schema, "profile": row.profile,
                    "tags": row.tags or {},
                })
        return result

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
        return _dialect_module(self._dialect()).insert(table)


def _metric_row(
    run_id: str, key: str, value: float, step: int, timestamp: int
) -> tuple[Any, ...]:
    is_nan = value != value  # NaN is the one value unequal to itself
    return (run_id, key, 0.0 if is_nan else value, is_nan, step, timestamp)  # _ROW's order


def _pg_arrays(run_id: str, rows: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    """The unnest statements' parameters: the run id and one list per other column."""
    columns = dict(zip(_ROW, zip(*rows, strict=True), strict=True))
    return {"run_id": run_id, **{name: list(columns[name]) for name in _PG_ARRAY_COLUMNS}}
