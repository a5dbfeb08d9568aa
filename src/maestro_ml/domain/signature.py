"""Model signatures: checking prediction rows against a model's declared inputs.

A signature is ``{"inputs": [{"name": "age", "type": "long"}, ...], "outputs": [...]}``
(MLflow's column-based form; ``inputs`` may also be the JSON text MLflow stores, and a
column may say ``"required": false``). :class:`SignatureValidator` is built once per
signature and checks every prediction, so all per-column work happens in its constructor.

Value rules, chosen so that a JSON payload means one thing only::

    long      int (not bool); a float only when whole (3.0 -> 3); within int64
    integer   as long, within int32 (MLflow's 32-bit name)
    double    int or float, not bool; ints become float; null kept as None (read as NaN)
    float     as double (MLflow's 32-bit name)
    boolean   bool only, no 0/1 or "true"
    string    str only, no numbers
    datetime  ISO 8601 str (kept as sent) or a datetime/date object

``null`` is accepted only for double/float columns, where models read it as NaN, and for
columns marked ``"required": false``; a missing optional column comes back as ``None``.
Checked rows come back as new dicts in signature order. Unknown features are refused.
Problems are collected, up to :data:`MAX_REPORTED_ERRORS`, in ``extra["errors"]`` of one
:class:`InvalidInput`, each as ``{"row", "feature", "message"}``.

The accepted request shapes live in :mod:`maestro_ml.domain.payloads`; its
``rows_from_payload`` is re-exported here because the two are always used together.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from numbers import Integral, Real
from typing import Any

from maestro_ml.domain.errors import InvalidInput
from maestro_ml.domain.payloads import rows_from_payload

__all__ = [
    "COLUMN_TYPES",
    "MAX_REPORTED_ERRORS",
    "ColumnSpec",
    "SignatureValidator",
    "rows_from_payload",
    "validate_rows",
    "validator_for_json",
]

MAX_REPORTED_ERRORS = 10
COLUMN_TYPES = ("long", "integer", "double", "float", "boolean", "string", "datetime")
_NULLABLE_TYPES = frozenset({"double", "float"})
_MISSING = object()


class _Mismatch(Exception):
    """A value that does not fit its column; ``reason`` completes 'must be <type>, ...'."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One declared input column."""

    name: str
    type: str
    required: bool = True


def validate_rows(rows: Sequence[Any], signature: Mapping[str, Any] | None) -> list[dict]:
    """Check ``rows`` against ``signature``; with no signature (or no inputs) only check shape.

    Builds a validator each call; on a hot path keep a :class:`SignatureValidator` (or use
    :func:`validator_for_json`) next to the loaded model instead.
    """
    if signature is None or (isinstance(signature, Mapping) and not signature.get("inputs")):
        return _plain_rows(rows)
    return SignatureValidator(signature).validate(rows)


@lru_cache(maxsize=256)
def validator_for_json(signature_json: str) -> SignatureValidator:
    """A shared validator for a signature stored as JSON text (as the registry keeps it)."""
    try:
        signature = json.loads(signature_json)
    except ValueError as exc:
        raise InvalidInput(f"Invalid model signature: not JSON ({exc})") from None
    if not isinstance(signature, dict):
        raise InvalidInput("Invalid model signature: expected a JSON object")
    return SignatureValidator(signature)


class SignatureValidator:
    """Validates prediction rows against one signature; immutable and thread-safe.

    >>> validator = SignatureValidator({"inputs": [{"name": "age", "type": "long"}]})
    >>> validator.validate([{"age": 3.0}])
    [{'age': 3}]
    """

    __slots__ = ("columns", "_checks", "_names", "_required")

    def __init__(self, signature: Mapping[str, Any]) -> None:
        self.columns: tuple[ColumnSpec, ...] = _parse_columns(signature)
        self._names = frozenset(column.name for column in self.columns)
        self._required = tuple(column.name for column in self.columns if column.required)
        self._checks: tuple[tuple[str, Callable[[Any], Any], bool, str], ...] = tuple(
            (
                column.name,
                _CONVERTERS[column.type],
                column.type in _NULLABLE_TYPES or not column.required,
                column.type,
            )
            for column in self.columns
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SignatureValidator) and other.columns == self.columns

    def __hash__(self) -> int:
        return hash(self.columns)

    def __repr__(self) -> str:
        return f"SignatureValidator({len(self.columns)} columns)"

    def validate(self, rows: Sequence[Any]) -> list[dict]:
        """Return the checked rows, or raise one :class:`InvalidInput` listing problems."""
        errors: list[dict[str, Any]] = []
        row_label = len(rows) > 1
        checked: list[dict] = []
        for index, row in enumerate(rows):
            where = index if row_label else None
            if not isinstance(row, Mapping):
                _note(errors, where, None, "must be an object mapping feature names to values")
            else:
                checked.append(self._validate_row(row, where, errors))
            if len(errors) >= MAX_REPORTED_ERRORS:
                break
        if errors:
            raise _problems(errors)
        return checked

    def _validate_row(self, row: Mapping, where: int | None, errors: list) -> dict:
        if row.keys() != self._names:
            self._note_key_problems(row, where, errors)
        values: dict[str, Any] = {}
        for name, convert, nullable, type_name in self._checks:
            value = row.get(name, _MISSING)
            if value is None or value is _MISSING:
                if value is None and not nullable:
                    _note(errors, where, name, f"must be {type_name}, got null")
                values[name] = None
                continue
            try:
                values[name] = convert(value)
            except _Mismatch as mismatch:
                _note(errors, where, name, f"must be {type_name}, {mismatch.reason}")
        return values

    def _note_key_problems(self, row: Mapping, where: int | None, errors: list) -> None:
        for name in self._required:
            if name not in row:
                _note(errors, where, name, "is missing")
        for name in row:
            if name not in self._names:
                _note(errors, where, name, "is not an input of this model")


def _parse_columns(signature: Mapping[str, Any]) -> tuple[ColumnSpec, ...]:
    if not isinstance(signature, Mapping):
        raise InvalidInput("Invalid model signature: expected an object with 'inputs'")
    inputs = signature.get("inputs")
    if isinstance(inputs, str):
        try:
            inputs = json.loads(inputs)
        except ValueError:
            raise InvalidInput("Invalid model signature: 'inputs' is not valid JSON") from None
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInput("Invalid model signature: 'inputs' must be a non-empty list")
    columns = tuple(_parse_column(spec, position) for position, spec in enumerate(inputs))
    names = [column.name for column in columns]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InvalidInput(f"Invalid model signature: duplicate input {duplicates[0]!r}")
    return columns


def _parse_column(spec: Any, position: int) -> ColumnSpec:
    if not isinstance(spec, Mapping):
        raise InvalidInput(f"Invalid model signature: input {position} must be an object")
    name, type_name = spec.get("name"), spec.get("type")
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"Invalid model signature: input {position} needs a 'name'")
    if type_name not in COLUMN_TYPES:
        raise InvalidInput(
            f"Invalid model signature: input {name!r} has type {type_name!r}; "
            f"supported types are {', '.join(COLUMN_TYPES)}"
        )
    required = spec.get("required", True)
    if not isinstance(required, bool):
        raise InvalidInput(f"Invalid model signature: 'required' of {name!r} must be a boolean")
    return ColumnSpec(name, type_name, required)


def _integer_converter(bits: int) -> Callable[[Any], int]:
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def convert(value: Any) -> int:
        if type(value) is not int:
            value = _whole_number(value)
        if low <= value <= high:
            return value
        raise _Mismatch(f"got {_short(value)} which is outside the {bits}-bit range")

    return convert


def _whole_number(value: Any) -> int:
    if isinstance(value, bool):
        raise _Mismatch("got boolean")
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        if not math.isfinite(value):
            raise _Mismatch(f"got number {value!r}")
        raise _Mismatch(f"got number {value!r} with a fractional part")
    if isinstance(value, Integral):
        return int(value)
    raise _Mismatch(f"got {_json_type(value)}")


def _to_double(value: Any) -> float:
    kind = type(value)
    if kind is float:
        return value
    if kind is int or (isinstance(value, Real) and not isinstance(value, bool)):
        try:
            return float(value)
        except OverflowError:
            raise _Mismatch(f"got {_short(value)} which is too large for a double") from None
    raise _Mismatch(f"got {_json_type(value)}")


def _to_boolean(value: Any) -> bool:
    if value is True or value is False:
        return value
    raise _Mismatch(f"got {_json_type(value)}")


def _to_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise _Mismatch(f"got {_json_type(value)}")


def _to_datetime(value: Any) -> Any:
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise _Mismatch(f"got {_json_type(value)}")
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise _Mismatch(f"got string {_short(value)} which is not an ISO 8601 datetime") from None
    return value


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "long": _integer_converter(64),
    "integer": _integer_converter(32),
    "double": _to_double,
    "float": _to_double,
    "boolean": _to_boolean,
    "string": _to_string,
    "datetime": _to_datetime,
}

_JSON_TYPES = {
    type(None): "null", bool: "boolean", int: "integer", float: "number", str: "string",
    list: "array", tuple: "array", dict: "object",
}  # fmt: skip


def _json_type(value: Any) -> str:
    name = _JSON_TYPES.get(type(value))
    if name is None:
        name = "object" if isinstance(value, Mapping) else type(value).__name__
    if name == "number" and not math.isfinite(value):
        return f"number {value!r}"
    return name


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _plain_rows(rows: Sequence[Any]) -> list[dict]:
    errors: list[dict[str, Any]] = []
    where_needed = len(rows) > 1
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            where = index if where_needed else None
            _note(errors, where, None, "must be an object mapping feature names to values")
            if len(errors) >= MAX_REPORTED_ERRORS:
                break
    if errors:
        raise _problems(errors)
    return [dict(row) for row in rows]


def _note(errors: list, row: int | None, feature: str | None, problem: str) -> None:
    if len(errors) >= MAX_REPORTED_ERRORS:
        return
    if feature is None:
        message = f"{'the row' if row is None else f'row {row}'} {problem}"
    else:
        message = f"{'' if row is None else f'row {row}: '}feature {feature!r} {problem}"
    errors.append({"row": row, "feature": feature, "message": message})


def _problems(errors: list[dict[str, Any]]) -> InvalidInput:
    messages = [error["message"] for error in errors]
    if len(messages) == 1:
        detail = f"Invalid prediction input: {messages[0]}"
    else:
        more = "+" if len(messages) >= MAX_REPORTED_ERRORS else ""
        detail = f"Invalid prediction input ({len(messages)}{more} problems): " + "; ".join(
            messages
        )
    return InvalidInput(detail, errors=errors)
