"""Appends to runs — params, metrics, tags — as driver statements compiled once.

Clients log to runs in tight loops, and there SQLAlchemy's per-statement work (execution
context, parameter processing, result wrapping: about 25 µs a statement) and the ORM
session's transaction bookkeeping cost several times what SQLite spends on the rows. The
statements below are SQLAlchemy Core statements, built from the table definitions and
compiled once per dialect to the driver's text; ``RunAppends`` runs them on the DBAPI
connection of a transaction its caller has begun — a ``SqlUnitOfWork``'s (``uow.runs``
delegates here) or a ``RunDataUnitOfWork``'s, which has no session at all.

Children carry no tenant column: ``states`` finds the run with an explicit tenant filter
(the session's automatic one does not apply to driver statements), and every other method
expects the caller to have found the run through it first.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import String, Text, and_, bindparam, cast, func, insert, not_, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import psycopg

from maestro_ml.observability.db_metrics import observe_statement

from ..tables import ExperimentRow, LatestMetricRow, MetricRow, ParamRow, RunRow, RunTagRow

_RUNS, _EXPERIMENTS = RunRow.__table__, ExperimentRow.__table__
_PARAMS, _TAGS = ParamRow.__table__, RunTagRow.__table__
_METRICS, _LATEST = MetricRow.__table__, LatestMetricRow.__table__

# A metric row as the logging path carries it: a tuple in this order (the table's).
_ROW = ("run_id", "key", "value", "is_nan", "step", "timestamp")
_KEY, _STEP, _TIMESTAMP = _ROW.index("key"), _ROW.index("step"), _ROW.index("timestamp")
# A statement that is its own transaction and meets a param key committed under it runs
# again, seeing that key: at most this many times in all.
APPEND_ATTEMPTS = 3
UNIQUE_VIOLATION = "23505"
# Positional placeholders on both drivers: qmark for sqlite3, format (%s) for psycopg.
_DIALECTS = {"sqlite": sqlite.dialect(), "postgresql": psycopg.dialect(paramstyle="format")}


class Prepared:
    """A Core statement compiled once per dialect: its text and its parameters' order."""

    def __init__(self, statement: Any, column_keys: Sequence[str] | None = None,
                 dialects: Iterable[str] = ("sqlite", "postgresql")) -> None:
        self.compiled: dict[str, tuple[str, tuple[str, ...]]] = {}
        for name in dialects:
            compiled = statement.compile(dialect=_DIALECTS[name], column_keys=column_keys)
            order = tuple(compiled.positiontup or ())
            if column_keys is not None and order != tuple(column_keys):
                # Rows are passed as tuples in column_keys' order: they must not land in
                # other columns if the table definition ever changes.
                raise RuntimeError(f"placeholders {order} do not follow {column_keys}")
            self.compiled[name] = (compiled.string, order)


def _pg_unnest(table: Any, arrays: tuple[str, ...], prefix: str = "",
               name: str | None = None) -> Any:
    """``unnest(:prefix<column>, ...)`` as a table of ``arrays``, one array per column.

    Strings travel as ``text[]`` (a cast to ``varchar(n)[]`` would truncate where the
    column must refuse).
    """
    typed = [
        cast(bindparam(prefix + name), postgresql.ARRAY(
            Text() if isinstance(table.c[name].type, String) else table.c[name].type))
        for name in arrays
    ]
    return func.unnest(*typed).table_valued(*arrays).render_derived(name=name)


def _pg_unnest_insert(table: Any, arrays: tuple[str, ...], prefix: str = "",
                      where: Any = None) -> Any:
    """``INSERT ... SELECT :run_id, * FROM unnest(arrays)``: a batch as one array per column.

    psycopg's executemany sends one INSERT per row; this is one statement whatever the
    batch, and its text never changes, so the server plans it once. The arrays'
    parameters are named ``prefix + column``; ``where`` guards the whole insert.
    """
    source = _pg_unnest(table, arrays, prefix)
    run_id = cast(bindparam("run_id"), table.c.run_id.type)
    rows = select(run_id, *[source.c[n] for n in arrays])
    if where is not None:
        rows = rows.where(where)
    return postgresql.insert(table).from_select(["run_id", *arrays], rows)


def _latest_upsert(stmt: Any) -> Any:
    """Replace a latest value only with a later (step, timestamp); on a tie the last wins."""
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


def _tag_upsert(stmt: Any) -> Any:
    return stmt.on_conflict_do_update(
        index_elements=[_TAGS.c.run_id, _TAGS.c.key], set_={"value": stmt.excluded.value})


_STATES_QUERY = (
    select(_RUNS.c.lifecycle_stage, _EXPERIMENTS.c.lifecycle_stage)
    .join(_EXPERIMENTS, _EXPERIMENTS.c.id == _RUNS.c.experiment_id)
    .where(_RUNS.c.id == bindparam("run_id"))
)
_STATES_ANY_TENANT = Prepared(_STATES_QUERY)
_STATES = Prepared(_STATES_QUERY.where(_RUNS.c.tenant_id == bindparam("tenant_id")))
_PARAMS_OF_RUN = Prepared(
    select(_PARAMS.c.key, _PARAMS.c.value).where(_PARAMS.c.run_id == bindparam("run_id")))
_TAG_UPSERT = {
    "sqlite": Prepared(_tag_upsert(sqlite.insert(_TAGS)), ("run_id", "key", "value"), ["sqlite"]),
    "postgresql": Prepared(
        _tag_upsert(postgresql.insert(_TAGS)), ("run_id", "key", "value"), ["postgresql"]),
}
# SQLite: rows one by one through the driver's executemany (cheap in process).
_SQLITE_INSERT_PARAM = Prepared(
    sqlite.insert(_PARAMS).on_conflict_do_nothing(), ("run_id", "key", "value"), ["sqlite"])
_SQLITE_INSERT_METRIC = Prepared(insert(_METRICS).inline(), _ROW, ["sqlite"])
_SQLITE_LATEST_UPSERT = Prepared(_latest_upsert(sqlite.insert(_LATEST)), _ROW, ["sqlite"])
# PostgreSQL: a batch as one statement (see _pg_unnest_insert), a single row as VALUES.
_PG_COLUMNS = _ROW[1:]
_PG_INSERT_PARAMS = Prepared(
    _pg_unnest_insert(_PARAMS, ("key", "value")).on_conflict_do_nothing(), None, ["postgresql"])
_PG_INSERT_METRICS = Prepared(_pg_unnest_insert(_METRICS, _PG_COLUMNS), None, ["postgresql"])
_PG_INSERT_METRIC = Prepared(insert(_METRICS).inline(), _ROW, ["postgresql"])
_PG_LATEST_UPSERT = Prepared(
    _latest_upsert(_pg_unnest_insert(_LATEST, _PG_COLUMNS)), None, ["postgresql"])
# What a foreign key's check would take; see _pg_append.
_PG_LOCK_RUN = Prepared(
    select(_RUNS.c.id).where(_RUNS.c.id == bindparam("run_id"))
    .with_for_update(read=True, key_share=True), None, ["postgresql"])
_PG_LATEST_UPSERT_ONE = Prepared(
    _latest_upsert(postgresql.insert(_LATEST)), _ROW, ["postgresql"])


@cache  # compiled on first use: SQLite deployments never need these
def _pg_append(with_tenant: bool, parts: frozenset[str]) -> Prepared:
    """One statement that appends ``parts`` (params, metrics, tags) to a writable run.

    ``WITH run AS (the run's stages), p AS (INSERT params ...), m AS (INSERT metrics ...),
    l AS (UPSERT latest ...), t AS (UPSERT tags ...) SELECT stages ... FROM run``: every
    insert is guarded by ``run.writable`` (run and experiment both in ``:stage``), so a
    missing, foreign or deleted run gets nothing. With params it also answers the values
    already stored under those keys, as of the statement's start.

    It is all or nothing by itself, so that it can be its own transaction: with params,
    every insert is also guarded by "no param is stored with another value", and params
    go in without ``ON CONFLICT``. A key another transaction commits while this statement
    runs fails the whole statement (unique violation), writing nothing.
    """
    found = (select(_RUNS.c.lifecycle_stage.label("run_stage"),
                    _EXPERIMENTS.c.lifecycle_stage.label("experiment_stage"),
                    and_(_RUNS.c.lifecycle_stage == bindparam("stage"),
                         _EXPERIMENTS.c.lifecycle_stage == bindparam("stage")).label("writable"))
             .join(_EXPERIMENTS, _EXPERIMENTS.c.id == _RUNS.c.experiment_id)
             .where(_RUNS.c.id == bindparam("run_id")))
    if with_tenant:
        found = found.where(_RUNS.c.tenant_id == bindparam("tenant_id"))
    # metrics.run_id has no foreign key on PostgreSQL (migration 0007): this lock, once per
    # statement, is the one the key's check took per row, and holds off the run's delete.
    run = found.with_for_update(read=True, key_share=True, of=_RUNS).cte("run")
    guard: Any = select(run.c.writable).scalar_subquery()
    columns: list[Any] = [run.c.run_stage, run.c.experiment_stage]
    writes = []
    if "params" in parts:
        stored = (select(_PARAMS.c.key, _PARAMS.c.value)
                  .where(_PARAMS.c.run_id == bindparam("run_id"),
                         _PARAMS.c.key == func.any(cast(bindparam("param_key"),
                                                        postgresql.ARRAY(Text()))))
                  .cte("stored"))
        compared = _pg_unnest(_PARAMS, ("key", "value"), "param_", "compared")
        changed = (select(stored.c.key).join(compared, compared.c.key == stored.c.key)
                   .where(compared.c.value != stored.c.value).exists())
        allowed = select(and_(run.c.writable, not_(changed)).label("ok")).cte("allowed")
        guard = select(allowed.c.ok).scalar_subquery()
        given = _pg_unnest(_PARAMS, ("key", "value"), "param_", "given")
        new = select(cast(bindparam("run_id"), _PARAMS.c.run_id.type), given.c.key,
                     given.c.value).where(guard, given.c.key.not_in(select(stored.c.key)))
        inserted = (insert(_PARAMS).from_select(["run_id", "key", "value"], new)
                    .cte("p"))
        writes.append(inserted)
        columns += [select(func.array_agg(stored.c.key)).scalar_subquery(),
                    select(func.array_agg(stored.c.value)).scalar_subquery()]
    if "metrics" in parts:
        writes.append(_pg_unnest_insert(_METRICS, _PG_COLUMNS, "metric_", guard).cte("m"))
        writes.append(_latest_upsert(
            _pg_unnest_insert(_LATEST, _PG_COLUMNS, "latest_", guard)).cte("l"))
    if "tags" in parts:
        writes.append(_tag_upsert(
            _pg_unnest_insert(_TAGS, ("key", "value"), "tag_", guard)).cte("t"))
    return Prepared(select(*columns).add_cte(*writes), None, ["postgresql"])


@dataclass(frozen=True)
class Appended:
    """What ``RunAppends.append`` found and did.

    ``states``: (run stage, experiment stage), None if the run is not the tenant's;
    ``changed``: ``{key: stored}`` for params already logged with another value. Unless
    the states are ``(stage, stage)`` and nothing changed, nothing was written.
    """

    states: tuple[str, str] | None
    changed: dict[str, str]


class RunAppends:
    """States of a run and appends to it, on a DBAPI connection in a begun transaction."""

    def __init__(self, connection: Any, dialect: str, tenant_id: str | None, *,
                 commits_alone: bool = False) -> None:
        """``commits_alone``: the caller's transaction is exactly one ``append`` (see there)."""
        self._connection = connection
        self._cursor = connection.cursor()
        self._dialect = dialect
        self._tenant_id = tenant_id
        self._commits_alone = commits_alone

    def states(self, run_id: str) -> tuple[str, str] | None:
        """(run stage, experiment stage) of a run of this tenant, or None."""
        if not isinstance(run_id, str) or not run_id:
            return None
        if self._tenant_id is None:  # system work, which has no tenant
            found = self._one(_STATES_ANY_TENANT, {"run_id": run_id})
        else:
            found = self._one(_STATES, {"run_id": run_id, "tenant_id": self._tenant_id})
        return None if found is None else (found[0], found[1])

    def append(self, run_id: str, stage: str, *, params: dict[str, str] | None = None,
               metrics: Sequence[tuple[str, float, int, int]] = (),
               tags: dict[str, str] | None = None) -> Appended:
        """Params, metrics (``(key, value, step, timestamp)``) and tags for a run of this
        tenant whose stage and experiment's stage are ``stage``; nothing otherwise.

        Params already stored with another value are reported in ``changed``; the caller
        must then not commit. On PostgreSQL this is one statement, which then writes
        nothing at all; with ``commits_alone`` it is also the whole transaction, committed
        in one round trip, and run again if another transaction commits one of its new
        param keys under it. In a caller's transaction such a key fails the statement.
        """
        params, tags = params or {}, tags or {}
        if self._dialect == "postgresql" and (params or metrics or tags):
            return self._pg_append(run_id, stage, params, metrics, tags)
        states = self.states(run_id)
        if states != (stage, stage):
            return Appended(states, {})
        changed = self.add_params(run_id, params)
        if not changed:
            self.add_metrics(run_id, metrics)
            self.set_tags(run_id, tags)
        return Appended(states, changed)

    def _pg_append(self, run_id: str, stage: str, params: dict[str, str],
                   metrics: Sequence[tuple[str, float, int, int]], tags: dict[str, str]
                   ) -> Appended:
        if not isinstance(run_id, str) or not run_id:
            return Appended(None, {})
        values: dict[str, Any] = {"run_id": run_id, "stage": stage}
        if self._tenant_id is not None:
            values["tenant_id"] = self._tenant_id
        parts = []
        if params:
            parts.append("params")
            values.update(param_key=list(params), param_value=list(params.values()))
        if metrics:
            parts.append("metrics")
            rows, latest = _metric_rows(run_id, metrics)
            values.update(_pg_arrays(rows, "metric_"), **_pg_arrays(latest, "latest_"))
        if tags:
            parts.append("tags")
            values.update(tag_key=list(tags), tag_value=list(tags.values()))
        alone = self._commits_alone and not self._in_transaction()
        prepared = _pg_append(self._tenant_id is not None, frozenset(parts))
        if alone:
            self._connection.autocommit = True
        try:
            found = self._one_again_on_new_keys(prepared, values) if alone else \
                self._one(prepared, values)
        finally:
            if alone:
                self._connection.autocommit = False
        states = None if found is None else (found[0], found[1])
        if states != (stage, stage) or not params:
            return Appended(states, {})
        stored = dict(zip(found[2] or (), found[3] or (), strict=True))
        return Appended(states, {k: v for k, v in stored.items() if params[k] != v})

    def _one_again_on_new_keys(self, prepared: Prepared, values: dict[str, Any]) -> Any:
        """``_one`` of a statement that is its own transaction, run again (it wrote nothing)
        while another transaction commits one of its new param keys under it."""
        attempt = 1
        while True:
            try:
                return self._one(prepared, values)
            except Exception as exc:
                if getattr(exc, "sqlstate", None) != UNIQUE_VIOLATION or attempt == APPEND_ATTEMPTS:
                    raise
                attempt += 1

    def _in_transaction(self) -> bool:
        return str(self._connection.info.transaction_status.name) != "IDLE"

    def add_params(self, run_id: str, params: dict[str, str]) -> dict[str, str]:
        """Insert params not yet logged; return ``{key: stored}`` where a key holds another value.

        One statement when every key is new (the common case); a second read otherwise.
        """
        if not params:
            return {}
        if self._dialect == "postgresql":
            inserted = self._run(_PG_INSERT_PARAMS, {
                "run_id": run_id, "key": list(params), "value": list(params.values())})
        else:
            inserted = self._run_many(
                _SQLITE_INSERT_PARAM, [(run_id, k, v) for k, v in params.items()])
        if inserted == len(params):
            return {}
        stored = self._all(_PARAMS_OF_RUN, {"run_id": run_id})
        return {k: v for k, v in stored if k in params and params[k] != v}

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        if tags:
            self._run_many(_TAG_UPSERT[self._dialect], [(run_id, k, v) for k, v in tags.items()])

    def add_metrics(self, run_id: str, metrics: Iterable[tuple[str, float, int, int]]) -> None:
        """Append ``(key, value, step, timestamp)`` values and bring latest_metrics up to date."""
        rows, latest = _metric_rows(run_id, metrics)
        if not rows:
            return
        if self._dialect == "sqlite":
            self._run_many(_SQLITE_INSERT_METRIC, rows)
            self._run_many(_SQLITE_LATEST_UPSERT, latest)
        elif self._one(_PG_LOCK_RUN, {"run_id": run_id}) is None:
            return  # deleted since the caller found it: its metrics went with it
        elif len(rows) == 1:
            self._run_many(_PG_INSERT_METRIC, rows)
            self._run_many(_PG_LATEST_UPSERT_ONE, rows)
        else:
            self._run(_PG_INSERT_METRICS, {"run_id": run_id, **_pg_arrays(rows)})
            self._run(_PG_LATEST_UPSERT, {"run_id": run_id, **_pg_arrays(latest)})

    # -- the driver -----------------------------------------------------------------------
    def _execute(self, prepared: Prepared, params: dict[str, Any]) -> Any:
        text, order = prepared.compiled[self._dialect]
        start = time.perf_counter()
        self._cursor.execute(text, tuple(params[name] for name in order))
        observe_statement(start)
        return self._cursor

    def _one(self, prepared: Prepared, params: dict[str, Any]) -> Any:
        return self._execute(prepared, params).fetchone()

    def _all(self, prepared: Prepared, params: dict[str, Any]) -> list[Any]:
        return list(self._execute(prepared, params).fetchall())

    def _run(self, prepared: Prepared, params: dict[str, Any]) -> int:
        return int(self._execute(prepared, params).rowcount)

    def _run_many(self, prepared: Prepared, rows: list[tuple[Any, ...]]) -> int:
        """Rows already in the statement's placeholder order; returns rows changed."""
        text, _ = prepared.compiled[self._dialect]
        start = time.perf_counter()
        if len(rows) == 1:
            self._cursor.execute(text, rows[0])
        else:
            self._cursor.executemany(text, rows)
        observe_statement(start)
        return int(self._cursor.rowcount)


def _metric_row(run_id: str, key: str, value: float, step: int, timestamp: int
               ) -> tuple[Any, ...]:
    is_nan = value != value  # NaN is the one value unequal to itself
    return (run_id, key, 0.0 if is_nan else float(value), is_nan, step, timestamp)  # _ROW's order


def _metric_rows(run_id: str, metrics: Iterable[tuple[str, float, int, int]]
                 ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Rows of ``(key, value, step, timestamp)`` values, and the latest row of each key."""
    rows = [_metric_row(run_id, *metric) for metric in metrics]
    latest: dict[str, tuple[Any, ...]] = {}
    for row in rows:  # the last of equal (step, timestamp) wins, as if logged one by one
        held = latest.get(row[_KEY])
        if held is None or (row[_STEP], row[_TIMESTAMP]) >= (held[_STEP], held[_TIMESTAMP]):
            latest[row[_KEY]] = row
    return rows, list(latest.values())


def _pg_arrays(rows: Sequence[tuple[Any, ...]], prefix: str = "") -> dict[str, str]:
    """The unnest statements' array parameters: one per column but the run id, each as
    PostgreSQL's array text (the statements cast it).

    psycopg adapts a list element by element in Python, about a microsecond each; a batch
    of 1000 metrics has 5000. Written here with ``str.join`` over ``repr``/``str`` the same
    arrays cost a tenth of that. ``repr`` of a float is its shortest round-tripping form,
    and ``inf``/``-inf`` are literals PostgreSQL reads (NaN never gets here: ``is_nan``).
    """
    columns = dict(zip(_ROW, zip(*rows, strict=True), strict=True))
    keys = columns["key"]
    quoted = {key: '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
              for key in set(keys)}
    return {
        prefix + "key": "{" + ",".join(map(quoted.__getitem__, keys)) + "}",
        prefix + "value": "{" + ",".join(map(float.__repr__, columns["value"])) + "}",
        prefix + "is_nan": "{" + ",".join("t" if flag else "f" for flag in columns["is_nan"])
        + "}",
        prefix + "step": "{" + ",".join(map(str, columns["step"])) + "}",
        prefix + "timestamp": "{" + ",".join(map(str, columns["timestamp"])) + "}",
    }
