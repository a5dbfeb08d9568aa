"""Column type names and the input/output signature of a trained model.

The same five type names (``long``, ``double``, ``boolean``, ``string``, ``datetime``) describe
dataset schemas and model signatures, so a client can check one against the other.
"""

from __future__ import annotations

import pandas as pd
from pandas.api import types as ptypes

from maestro_ml.domain.errors import InvalidInput

LONG = "long"
DOUBLE = "double"
BOOLEAN = "boolean"
STRING = "string"
DATETIME = "datetime"
NUMERIC_TYPES = frozenset({LONG, DOUBLE, BOOLEAN})


def column_type(series: pd.Series) -> str:
    """The type name of a column; anything that is not a number, flag or time is a string."""
    dtype = series.dtype
    # bool is checked first: pandas also counts it as numeric.
    if ptypes.is_bool_dtype(dtype):
        return BOOLEAN
    if ptypes.is_integer_dtype(dtype):
        return LONG
    if ptypes.is_float_dtype(dtype):
        return DOUBLE
    if ptypes.is_datetime64_any_dtype(dtype):
        return DATETIME
    return STRING


def frame_schema(frame: pd.DataFrame) -> list[dict[str, str]]:
    """``[{"name", "type"}]`` for every column of ``frame``, in order."""
    return [{"name": str(name), "type": column_type(frame[name])} for name in frame.columns]


def infer_signature(frame: pd.DataFrame, target: str) -> dict[str, list[dict[str, str]]]:
    """Inputs are every column but ``target``, in frame order; the output is ``target``.

    >>> infer_signature(pd.DataFrame({"age": [30], "churned": [True]}), "churned")["outputs"]
    [{'name': 'churned', 'type': 'boolean'}]
    """
    if target not in frame.columns:
        raise InvalidInput(f"target column '{target}' is not in the frame")
    schema = frame_schema(frame)
    return {
        "inputs": [column for column in schema if column["name"] != target],
        "outputs": [column for column in schema if column["name"] == target],
    }
