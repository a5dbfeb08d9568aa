"""Prediction request shapes."""

from __future__ import annotations

import pytest

from maestro_ml.domain.errors import InvalidInput, PayloadTooLarge
from maestro_ml.domain.payloads import rows_from_payload
from maestro_ml.domain.signature import rows_from_payload as reexported

TWO_ROWS = [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]


def error_of(payload, max_rows=100) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        rows_from_payload(payload, max_rows)
    return caught.value


def test_signature_module_reexports_rows_from_payload():
    assert reexported is rows_from_payload


@pytest.mark.parametrize(
    "payload",
    [
        {"instances": TWO_ROWS},
        {"columns": ["a", "b"], "data": [[1, "x"], [2, "y"]]},
        {"dataframe_split": {"columns": ["a", "b"], "data": [[1, "x"], [2, "y"]]}},
        {"dataframe_split": {"index": [0, 1], "columns": ["a", "b"], "data": [[1, "x"], [2, "y"]]}},
        {"dataframe_records": TWO_ROWS},
        {"inputs": {"a": [1, 2], "b": ["x", "y"]}},
        {"inputs": TWO_ROWS},
        {"instances": TWO_ROWS, "params": {"temperature": 0.1}},
    ],
)
def test_every_shape_gives_the_same_rows(payload):
    assert rows_from_payload(payload, max_rows=10) == TWO_ROWS


def test_features_is_one_row():
    assert rows_from_payload({"features": {"a": 1}}, max_rows=1) == [{"a": 1}]


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({}, "has no input"),
        ({"rows": []}, "unexpected key 'rows'"),
        ({"features": {"a": 1}, "instances": [{"a": 1}]}, "mixes 'features' and 'instances'"),
        ({"data": [[1]]}, "'data' is only valid together with 'columns'"),
        ({"instances": [{"a": 1}], "data": [[1]]}, "'data' is only valid"),
        ({"columns": ["a"]}, "'columns' needs 'data'"),
        ({"features": [1, 2]}, "'features' must be an object"),
        ({"instances": {"a": 1}}, "'instances' must be a list of objects"),
        ({"instances": [{"a": 1}, [1]]}, "'instances[1]' must be an object"),
        ({"dataframe_records": [1]}, "'dataframe_records[0]' must be an object"),
        ({"inputs": [{"a": 1}, "x"]}, "'inputs[1]' must be an object"),
        ({"inputs": 3}, "'inputs' must be a list of objects"),
        ({"inputs": {"a": 1}}, "'inputs.a' must be a list of values"),
        ({"inputs": {"a": [1], "b": [1, 2]}}, "different lengths (1, 2)"),
        ({"columns": "a", "data": [[1]]}, "'columns' must be a non-empty list"),
        ({"columns": [], "data": []}, "'columns' must be a non-empty list"),
        ({"columns": ["a", 1], "data": [[1, 2]]}, "'columns' must be a non-empty list"),
        ({"columns": ["a", "a"], "data": [[1, 2]]}, "names a column twice"),
        ({"columns": ["a"], "data": {"a": 1}}, "'data' must be a list of rows"),
        ({"columns": ["a", "b"], "data": [[1, 2], [3]]}, "'data[1]' has 1 values but there are 2"),
        ({"columns": ["a"], "data": [1]}, "'data[0]' must be a list"),
        ({"dataframe_split": [[1]]}, "'dataframe_split' must be an object with 'columns'"),
        ({"dataframe_split": {"columns": ["a"]}}, "'dataframe_split' must be an object"),
        (
            {"dataframe_split": {"columns": ["a"], "data": [[1]], "dtype": "x"}},
            "unexpected key 'dtype'",
        ),
        (
            {"dataframe_split": {"columns": ["a", "b"], "data": [[1]]}},
            "'dataframe_split.data[0]' has 1 values",
        ),
        ({"instances": []}, "no rows"),
        ({"dataframe_records": []}, "no rows"),
        ({"columns": ["a"], "data": []}, "no rows"),
        ({"inputs": {}}, "no rows"),
        ({"inputs": {"a": []}}, "no rows"),
    ],
)
def test_malformed_payloads_say_what_is_expected(payload, fragment):
    assert fragment in error_of(payload).detail


@pytest.mark.parametrize("payload", [[{"a": 1}], "x", None, 3])
def test_payload_must_be_an_object(payload):
    error = error_of(payload)
    assert "must be a JSON object" in error.detail
    assert '{"features": {...}}' in error.detail


@pytest.mark.parametrize(
    "payload",
    [
        {"instances": [{"a": 1}] * 4},
        {"dataframe_records": [{"a": 1}] * 4},
        {"columns": ["a"], "data": [[1]] * 4},
        {"dataframe_split": {"columns": ["a"], "data": [[1]] * 4}},
        {"inputs": {"a": [1, 2, 3, 4]}},
        {"inputs": [{"a": 1}] * 4},
    ],
)
def test_rows_over_the_limit_are_too_large(payload):
    assert rows_from_payload(payload, max_rows=4)
    with pytest.raises(PayloadTooLarge) as caught:
        rows_from_payload(payload, max_rows=3)
    assert "the limit is 3" in caught.value.detail
    assert caught.value.extra == {"rows": 4, "limit": 3}
    assert isinstance(caught.value, InvalidInput)


def test_row_limit_is_checked_before_rows_are_inspected():
    # The bad row is past the limit: the size error wins, so no work is done on it.
    with pytest.raises(PayloadTooLarge):
        rows_from_payload({"instances": [{"a": 1}, {"a": 2}, "bad"]}, max_rows=2)


def test_max_rows_must_be_positive():
    with pytest.raises(ValueError):
        rows_from_payload({"features": {"a": 1}}, max_rows=0)
