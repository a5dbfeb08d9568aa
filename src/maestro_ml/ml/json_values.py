"""Conversion of pandas/numpy values into plain JSON values (previews, class labels, results)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd


def to_json_value(value: Any) -> Any:
    """``value`` as str/int/float/bool/None/list/dict; NaN, NaT and infinities become None."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.datetime64 | np.timedelta64):
        # ``.item()`` turns nanosecond precision values into bare ints, so go through pandas.
        if np.isnat(value):
            return None
        value = pd.Timestamp(value) if isinstance(value, np.datetime64) else pd.Timedelta(value)
    if isinstance(value, np.generic):
        return to_json_value(value.item())
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return to_json_value(float(value))
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, Mapping):
        return {str(key): to_json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | np.ndarray | pd.Series):
        return [to_json_value(item) for item in value]
    return str(value)
