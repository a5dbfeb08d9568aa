"""Reading tabular datasets (CSV, Parquet) and profiling them: schema, row count, preview."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from maestro_ml.domain.errors import InvalidInput
from maestro_ml.ml.json_values import to_json_value
from maestro_ml.ml.signature import frame_schema

CSV = "csv"
PARQUET = "parquet"
FORMATS = (CSV, PARQUET)

_EXTENSIONS = {
    ".csv": CSV,
    ".csv.gz": CSV,
    ".parquet": PARQUET,
    ".pq": PARQUET,
}


@dataclass
class TableProfile:
    """What a user sees of a dataset before training on it; every value is JSON-safe."""

    schema: list[dict[str, str]]
    row_count: int
    preview: list[dict[str, Any]]


def detect_format(filename: str) -> str:
    """``"csv"`` or ``"parquet"`` from the file name's extension.

    >>> detect_format("churn.csv")
    'csv'
    """
    lowered = filename.lower()
    # Longest extension first so ".csv.gz" wins over a hypothetical ".gz".
    for extension in sorted(_EXTENSIONS, key=len, reverse=True):
        if lowered.endswith(extension):
            return _EXTENSIONS[extension]
    known = ", ".join(sorted(_EXTENSIONS))
    raise InvalidInput(f"cannot tell the format of '{filename}'; expected one of: {known}")


def read_table(path: str | Path, fmt: str) -> pd.DataFrame:
    """Read a CSV or Parquet file; column names are always strings.

    Unreadable, empty or column-less files raise ``InvalidInput``.
    """
    if fmt == CSV:
        frame = _read_csv(path)
    elif fmt == PARQUET:
        frame = _read_parquet(path)
    else:
        raise InvalidInput(f"unknown dataset format '{fmt}'; expected one of: {', '.join(FORMATS)}")
    if len(frame.columns) == 0:
        raise InvalidInput("the dataset has no columns")
    frame.columns = [str(name) for name in frame.columns]
    return frame


def profile_table(path: str | Path, fmt: str, preview_rows: int = 10) -> TableProfile:
    """Schema, row count and the first ``preview_rows`` rows of a dataset file."""
    frame = read_table(path, fmt)
    preview = [
        {str(key): to_json_value(value) for key, value in row.items()}
        for row in frame.head(preview_rows).to_dict(orient="records")
    ]
    return TableProfile(schema=frame_schema(frame), row_count=len(frame), preview=preview)


def _read_csv(path: str | Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError as exc:
        raise InvalidInput("the CSV file is empty") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"the file could not be read as CSV: {exc}") from exc


def _read_parquet(path: str | Path) -> pd.DataFrame:
    if Path(path).stat().st_size == 0:
        raise InvalidInput("the Parquet file is empty")
    try:
        return pd.read_parquet(path)
    except (pa.ArrowException, ValueError, OSError) as exc:
        # A missing file is the caller's problem, not the user's: let it through.
        if isinstance(exc, FileNotFoundError):
            raise
        raise InvalidInput(f"the file could not be read as Parquet: {exc}") from exc
