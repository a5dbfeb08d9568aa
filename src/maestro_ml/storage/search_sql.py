"""Run search in SQL: ``domain.search`` clauses and order keys as SQLAlchemy expressions.

A filter on metrics, params, tags or datasets becomes a correlated ``EXISTS`` on that child
table (a run matches once, however many rows it holds, and the planner can drive from the
``(key, value)`` index of ``latest_metrics``); for datasets, on the inputs the run logged or
the Maestro dataset it trained on. An attribute becomes a condition on the run's
own column. An order key on a metric, param or tag outer-joins the one row of that key per
run (their primary keys are ``(run_id, key)``, so no run is duplicated).

When the first order key is a metric that a clause also bounds (``metrics.acc > 0.9 ORDER
BY metrics.acc DESC``, the common "best runs" query), :func:`driving_metric` turns that
metric into an inner join the planner drives from the ``(key, value)`` index in order and
stops after one page, instead of sorting every run of the tenant; the clauses bounding it
exclude NaN and missing values, so the rows and their order are the same.

Ordering rules, the same in both directions: runs lacking the ordered value sort last, and
NaN metrics sort after every number but before missing ones (MLflow's rules). ``LIKE`` is
case-sensitive on every backend (SQLite's own ``LIKE`` is not, so it becomes ``GLOB``) and
``\\`` escapes ``%`` and ``_``; ``ILIKE`` ignores case.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, exists, or_, true
from sqlalchemy.orm import aliased

from maestro_ml.domain.errors import InvalidInput
from maestro_ml.domain.search import Clause, OrderKey

from .tables import DatasetRow, LatestMetricRow, ParamRow, RunInputRow, RunRow, RunTagRow

ATTRIBUTE_COLUMNS: dict[str, Any] = {
    "status": RunRow.status,
    "run_name": RunRow.name,
    "run_id": RunRow.id,
    "user_id": RunRow.user_id,
    "lifecycle_stage": RunRow.lifecycle_stage,
    "start_time": RunRow.start_time,
    "end_time": RunRow.end_time,
    "created_at": RunRow.created_at,
}
# A run's datasets: the Maestro dataset it trained on, and those it logged as inputs (MLflow's
# ``log_inputs``), whose context ("training", "eval"...) is the input tag below.
DATASET_COLUMNS: dict[str, Any] = {"name": DatasetRow.name, "digest": DatasetRow.sha256}
INPUT_COLUMNS: dict[str, Any] = {
    "name": RunInputRow.name, "digest": RunInputRow.digest,
    "context": RunInputRow.tags["mlflow.data.context"].as_string(),
}
_NULLABLE_ATTRIBUTES = frozenset({"end_time", "user_id"})
_LIKE_ESCAPE = "\\"


def filter_condition(clause: Clause, dialect: str) -> ColumnElement[bool]:
    """The WHERE condition on ``RunRow`` for one parsed clause."""
    if clause.entity == "metric":
        return _metric_condition(clause)
    if clause.entity in ("param", "tag"):
        child = ParamRow if clause.entity == "param" else RunTagRow
        return exists().where(
            child.run_id == RunRow.id,
            child.key == clause.key,
            _compare(child.value, clause.op, clause.value, dialect),
        )
    if clause.entity == "dataset":
        return _dataset_condition(clause, dialect)
    column = _attribute_column(clause.key)
    value = clause.value
    if clause.key == "created_at" and isinstance(value, float):
        value = datetime.fromtimestamp(value / 1000, UTC)
    return _compare(column, clause.op, value, dialect)


def _dataset_condition(clause: Clause, dialect: str) -> ColumnElement[bool]:
    """Some dataset of the run (trained on or logged as an input) satisfies the clause."""
    logged = INPUT_COLUMNS.get(clause.key)
    if logged is None:
        raise InvalidInput(
            f"filtering on datasets.{clause.key} is not supported; "
            f"use one of {', '.join('datasets.' + k for k in INPUT_COLUMNS)}",
            token=f"datasets.{clause.key}",
        )
    condition = exists().where(
        RunInputRow.run_id == RunRow.id, _compare(logged, clause.op, clause.value, dialect))
    trained = DATASET_COLUMNS.get(clause.key)
    if trained is None:  # a Maestro dataset has no context
        return condition
    return or_(condition, exists().where(
        DatasetRow.id == RunRow.dataset_id, _compare(trained, clause.op, clause.value, dialect)))


_BOUNDING_OPERATORS = frozenset({"=", ">", ">=", "<", "<="})


def driving_metric(
    stmt: Select[Any], clauses: list[Clause], keys: list[OrderKey]
) -> tuple[Select[Any], list[Clause], Any]:
    """Join the first order key's metric when clauses bound it; returns the statement, the
    clauses still to apply and the joined alias (None when no metric drives the query)."""
    if not keys or keys[0].entity != "metric":
        return stmt, clauses, None
    name = keys[0].key
    bounding = [c for c in clauses
                if c.entity == "metric" and c.key == name and c.op in _BOUNDING_OPERATORS]
    if not bounding:
        return stmt, clauses, None
    metric = aliased(LatestMetricRow, name="order_metric_0")
    stmt = stmt.join(metric, and_(metric.run_id == RunRow.id, metric.key == name))
    stmt = stmt.where(metric.is_nan != true(), *(
        _compare(metric.value, c.op, float(c.value), "") for c in bounding  # type: ignore[arg-type]
    ))
    return stmt, [c for c in clauses if c not in bounding], metric


def apply_order(
    stmt: Select[Any], keys: list[OrderKey], driving: Any = None
) -> Select[Any]:
    """Add the joins and ORDER BY of ``keys`` (then start_time DESC, id) to a run select;
    ``driving`` is the alias :func:`driving_metric` joined for the first key."""
    terms: list[Any] = []
    for index, key in enumerate(keys):
        if index == 0 and driving is not None:
            terms.append(_direction(driving.value, key.descending))
        elif key.entity == "metric":
            metric = aliased(LatestMetricRow, name=f"order_metric_{index}")
            stmt = stmt.outerjoin(
                metric, and_(metric.run_id == RunRow.id, metric.key == key.key)
            )
            rank = case((metric.run_id.is_(None), 2), (metric.is_nan == true(), 1), else_=0)
            terms += [rank.asc(), _direction(metric.value, key.descending)]
        elif key.entity in ("param", "tag"):
            table = ParamRow if key.entity == "param" else RunTagRow
            child = aliased(table, name=f"order_{key.entity}_{index}")
            stmt = stmt.outerjoin(child, and_(child.run_id == RunRow.id, child.key == key.key))
            terms += [case((child.run_id.is_(None), 1), else_=0).asc()]
            terms += [_direction(child.value, key.descending)]
        else:
            column = _attribute_column(key.key)
            if key.key in _NULLABLE_ATTRIBUTES:
                terms.append(case((column.is_(None), 1), else_=0).asc())
            terms.append(_direction(column, key.descending))
    # A total order, so that offsets page through every run exactly once.
    terms += [RunRow.start_time.desc(), RunRow.id.asc()]
    return stmt.order_by(*terms)


def _metric_condition(clause: Clause) -> ColumnElement[bool]:
    metric = LatestMetricRow
    value = float(clause.value)  # type: ignore[arg-type]
    if clause.op == "!=":
        # NaN differs from every number (IEEE), but it is stored as 0 with a flag.
        matches: ColumnElement[bool] = or_(metric.is_nan == true(), metric.value != value)
    else:
        matches = and_(metric.is_nan != true(), _compare(metric.value, clause.op, value, ""))
    return exists().where(metric.run_id == RunRow.id, metric.key == clause.key, matches)


def _attribute_column(name: str) -> Any:
    column = ATTRIBUTE_COLUMNS.get(name)
    if column is None:
        raise InvalidInput(
            f"searching by attributes.{name} is not supported; "
            f"use one of {', '.join(sorted(ATTRIBUTE_COLUMNS))}",
            token=f"attributes.{name}",
        )
    return column


def _direction(column: Any, descending: bool) -> Any:
    return column.desc() if descending else column.asc()


def _compare(column: Any, op: str, value: Any, dialect: str) -> ColumnElement[bool]:
    if op == "=":
        return column == value  # type: ignore[no-any-return]
    if op == "!=":
        return column != value  # type: ignore[no-any-return]
    if op == ">":
        return column > value  # type: ignore[no-any-return]
    if op == ">=":
        return column >= value  # type: ignore[no-any-return]
    if op == "<":
        return column < value  # type: ignore[no-any-return]
    if op == "<=":
        return column <= value  # type: ignore[no-any-return]
    if op == "IN":
        return column.in_(value)  # type: ignore[no-any-return]
    if op == "NOT IN":
        return column.not_in(value)  # type: ignore[no-any-return]
    pattern = _checked_pattern(value)
    if op == "ILIKE":
        return column.ilike(pattern, escape=_LIKE_ESCAPE)  # type: ignore[no-any-return]
    if dialect == "sqlite":
        return column.op("GLOB")(like_to_glob(pattern))  # type: ignore[no-any-return]
    return column.like(pattern, escape=_LIKE_ESCAPE)  # type: ignore[no-any-return]


def _checked_pattern(pattern: str) -> str:
    trailing = len(pattern) - len(pattern.rstrip(_LIKE_ESCAPE))
    if trailing % 2:
        raise InvalidInput(
            f"LIKE pattern {pattern!r} ends with the escape character '\\'; "
            "write '\\\\' for a literal backslash",
            token=pattern,
        )
    return pattern


def like_to_glob(pattern: str) -> str:
    """The case-sensitive GLOB equivalent of a LIKE pattern with ``\\`` escapes.

    >>> like_to_glob("val_%"), like_to_glob("50\\\\% [*]")
    ('val?*', '50% [[][*]]')
    """
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == _LIKE_ESCAPE and index + 1 < len(pattern):
            out.append(_glob_literal(pattern[index + 1]))
            index += 2
            continue
        out.append("*" if char == "%" else "?" if char == "_" else _glob_literal(char))
        index += 1
    return "".join(out)


def _glob_literal(char: str) -> str:
    return f"[{char}]" if char in "*?[" else char
