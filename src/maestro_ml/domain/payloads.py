"""Prediction request shapes: turning a JSON body into a list of feature rows.

Exactly one shape per request (``params``, MLflow's inference parameters, may ride along
and is left to the caller)::

    {"features": {"a": 1, "b": 2}}                         one row
    {"instances": [{"a": 1}, {"a": 2}]}                     records
    {"columns": ["a", "b"], "data": [[1, 2], [3, 4]]}       columnar
    {"dataframe_split": {"columns": [...], "data": [[...]]}}   MLflow scoring
    {"dataframe_records": [{"a": 1}]}                       MLflow scoring
    {"inputs": {"a": [1, 3], "b": [2, 4]}}                  MLflow scoring, column lists
    {"inputs": [{"a": 1}]}                                  MLflow scoring, records

Rows are checked for shape only; :mod:`maestro_ml.domain.signature` checks their values.
Too many rows is :class:`PayloadTooLarge` (an :class:`InvalidInput`), checked before any
row is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from maestro_ml.domain.errors import InvalidInput, PayloadTooLarge

_SHAPES = ("features", "instances", "columns", "dataframe_split", "dataframe_records", "inputs")
_COMPANIONS = frozenset({"data", "params"})
EXPECTED_SHAPES = (
    'one of {"features": {...}}, {"instances": [{...}]}, '
    '{"columns": [...], "data": [[...]]}, {"dataframe_split": {"columns": [...], '
    '"data": [[...]]}}, {"dataframe_records": [{...}]} or {"inputs": ...}'
)


def rows_from_payload(payload: Any, max_rows: int) -> list[dict]:
    """Return the rows of a prediction request body, at least one and at most ``max_rows``.

    >>> rows_from_payload({"columns": ["a", "b"], "data": [[1, 2]]}, max_rows=10)
    [{'a': 1, 'b': 2}]
    """
    if max_rows < 1:
        raise ValueError("max_rows must be at least 1")
    if not isinstance(payload, Mapping):
        raise InvalidInput(f"Prediction payload must be a JSON object: expected {EXPECTED_SHAPES}")
    shape = _shape_of(payload)
    value = payload[shape]
    if shape == "features":
        if not isinstance(value, Mapping):
            raise InvalidInput("'features' must be an object mapping feature names to values")
        rows = [value]
    elif shape == "columns":
        rows = _columnar(value, payload.get("data"), "", max_rows)
    elif shape == "dataframe_split":
        rows = _dataframe_split(value, max_rows)
    elif shape == "inputs" and isinstance(value, Mapping):
        rows = _column_lists(value, max_rows)
    else:
        rows = _records(value, shape, max_rows)
    if not rows:
        raise InvalidInput(f"Prediction payload has no rows in '{shape}'")
    return rows


def _shape_of(payload: Mapping) -> str:
    unknown = sorted(str(key) for key in payload if key not in _SHAPES and key not in _COMPANIONS)
    if unknown:
        raise InvalidInput(
            f"Prediction payload has unexpected key {unknown[0]!r}: expected {EXPECTED_SHAPES}",
            keys=unknown,
        )
    shapes = [key for key in _SHAPES if key in payload]
    if "data" in payload and "columns" not in payload:
        raise InvalidInput("'data' is only valid together with 'columns'")
    if not shapes:
        raise InvalidInput(f"Prediction payload has no input: expected {EXPECTED_SHAPES}")
    if len(shapes) > 1:
        raise InvalidInput(
            f"Prediction payload mixes {' and '.join(repr(s) for s in shapes)}: "
            "send exactly one input shape"
        )
    if shapes[0] == "columns" and "data" not in payload:
        raise InvalidInput("'columns' needs 'data': a list of rows, each a list of values")
    return shapes[0]


def _check_count(count: int, max_rows: int) -> None:
    if count > max_rows:
        raise PayloadTooLarge(
            f"Prediction payload has {count} rows; the limit is {max_rows}",
            rows=count,
            limit=max_rows,
        )


def _records(value: Any, where: str, max_rows: int) -> list[dict]:
    if not isinstance(value, list):
        raise InvalidInput(f"'{where}' must be a list of objects, one per row")
    _check_count(len(value), max_rows)
    for index, row in enumerate(value):
        if not isinstance(row, Mapping):
            raise InvalidInput(
                f"'{where}[{index}]' must be an object mapping feature names to values"
            )
    return list(value)


def _columnar(columns: Any, data: Any, where: str, max_rows: int) -> list[dict]:
    if (
        not isinstance(columns, list)
        or not columns
        or not all(isinstance(name, str) for name in columns)
    ):
        raise InvalidInput(f"'{where}columns' must be a non-empty list of column names")
    if len(set(columns)) != len(columns):
        raise InvalidInput(f"'{where}columns' names a column twice")
    if not isinstance(data, list):
        raise InvalidInput(f"'{where}data' must be a list of rows, each a list of values")
    _check_count(len(data), max_rows)
    width = len(columns)
    for index, row in enumerate(data):
        if not isinstance(row, list):
            raise InvalidInput(f"'{where}data[{index}]' must be a list of values")
        if len(row) != width:
            raise InvalidInput(
                f"'{where}data[{index}]' has {len(row)} values but there are {width} columns"
            )
    return [dict(zip(columns, row, strict=True)) for row in data]


def _dataframe_split(value: Any, max_rows: int) -> list[dict]:
    if not isinstance(value, Mapping) or "columns" not in value or "data" not in value:
        raise InvalidInput("'dataframe_split' must be an object with 'columns' and 'data'")
    extra = sorted(str(key) for key in value if key not in ("columns", "data", "index"))
    if extra:
        raise InvalidInput(f"'dataframe_split' has unexpected key {extra[0]!r}")
    return _columnar(value["columns"], value["data"], "dataframe_split.", max_rows)


def _column_lists(value: Mapping, max_rows: int) -> list[dict]:
    if not value:
        return []
    lengths = set()
    for name, column in value.items():
        if not isinstance(column, list):
            raise InvalidInput(
                f"'inputs.{name}' must be a list of values: as an object, 'inputs' maps "
                "each column to its values"
            )
        lengths.add(len(column))
    if len(lengths) > 1:
        raise InvalidInput(
            f"'inputs' columns have different lengths ({', '.join(map(str, sorted(lengths)))})"
        )
    _check_count(lengths.pop(), max_rows)
    names = list(value)
    return [dict(zip(names, values, strict=True)) for values in zip(*value.values(), strict=True)]
