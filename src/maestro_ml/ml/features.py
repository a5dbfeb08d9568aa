"""How dataset columns become model inputs, identically at training and at prediction time.

Numeric and boolean columns are float64 (missing → NaN). Every other column is categorical:
its values become strings (missing stays NaN) and are one-hot encoded inside the
scikit-learn pipeline. A model without categorical features takes a plain float64 matrix
in feature order, so predicting one row needs no pandas at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from maestro_ml.domain.errors import InvalidInput


def split_feature_kinds(
    frame: pd.DataFrame, feature_names: Sequence[str]
) -> tuple[list[str], list[str]]:
    """``(numeric, categorical)`` feature names, each in ``feature_names`` order."""
    numeric = [name for name in feature_names if ptypes.is_numeric_dtype(frame[name].dtype)]
    categorical = [name for name in feature_names if name not in numeric]
    return numeric, categorical


def build_pipeline(estimator: Any, numeric: list[str], categorical: list[str]) -> Pipeline:
    """The scikit-learn pipeline: median imputation, one-hot encoding when needed, the estimator.

    Without categorical features the pipeline takes a float matrix; with them, a DataFrame
    as made by ``frame_for_model`` or ``rows_to_frame``.
    """
    if not categorical:
        return Pipeline([("impute", SimpleImputer(strategy="median")), ("model", estimator)])
    branches = [("categorical", OneHotEncoder(handle_unknown="ignore"), categorical)]
    if numeric:
        branches.insert(0, ("numeric", SimpleImputer(strategy="median"), numeric))
    return Pipeline([("preprocess", ColumnTransformer(branches)), ("model", estimator)])


def numeric_matrix(frame: pd.DataFrame, feature_names: Sequence[str]) -> np.ndarray:
    """The float64 matrix of ``feature_names`` columns, in that order."""
    return frame[list(feature_names)].to_numpy(dtype=np.float64, na_value=np.nan)


def frame_for_model(
    frame: pd.DataFrame, feature_names: Sequence[str], categorical: Sequence[str]
) -> pd.DataFrame:
    """``frame`` reduced to the features, numeric columns as float64, categorical as strings."""
    columns = {
        name: categorical_values(frame[name])
        if name in categorical
        else frame[name].to_numpy(dtype=np.float64, na_value=np.nan)
        for name in feature_names
    }
    return pd.DataFrame(columns, columns=list(feature_names))


def rows_to_matrix(rows: Sequence[Mapping[str, Any]], feature_names: Sequence[str]) -> np.ndarray:
    """The float64 matrix of request rows (dicts of feature → value); None means missing."""
    values = _row_values(rows, feature_names)
    if not values:
        return np.empty((0, len(feature_names)), dtype=np.float64)
    try:
        matrix = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        matrix = None
    if matrix is None or matrix.ndim != 2:
        for index, name in enumerate(feature_names):
            _numeric_column(name, [row[index] for row in values])
        raise InvalidInput("feature values must be numbers or null")
    return matrix


def rows_to_frame(
    rows: Sequence[Mapping[str, Any]], feature_names: Sequence[str], categorical: Sequence[str]
) -> pd.DataFrame:
    """The DataFrame of request rows that a pipeline with categorical features expects."""
    values = _row_values(rows, feature_names)
    columns = {}
    for index, name in enumerate(feature_names):
        column = [row[index] for row in values]
        columns[name] = (
            categorical_values(column) if name in categorical else _numeric_column(name, column)
        )
    return pd.DataFrame(columns, columns=list(feature_names))


def categorical_values(values: Iterable[Any]) -> np.ndarray:
    """An object array of category strings; missing values (None, NaN, NA) stay NaN."""
    return np.array([_category(value) for value in values], dtype=object)


def _category(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if value is None or (ptypes.is_scalar(value) and pd.isna(value)):
        return np.nan
    return str(value)


def _row_values(rows: Sequence[Mapping[str, Any]], feature_names: Sequence[str]) -> list[list]:
    if isinstance(rows, Mapping | str) or not isinstance(rows, Sequence):
        raise InvalidInput("rows must be a list of objects mapping feature names to values")
    try:
        return [[row[name] for name in feature_names] for row in rows]
    except KeyError as exc:
        raise InvalidInput(
            f"missing feature '{exc.args[0]}'; every row needs: {', '.join(feature_names)}"
        ) from exc
    except TypeError as exc:
        raise InvalidInput("each row must be an object mapping feature names to values") from exc


def _numeric_column(name: str, values: list[Any]) -> np.ndarray:
    try:
        column = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"feature '{name}' must be a number or null: {exc}") from exc
    if column.ndim != 1:
        raise InvalidInput(f"feature '{name}' must be a number or null, not a list")
    return column
