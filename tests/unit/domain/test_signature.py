"""Prediction rows checked against model signatures."""

from __future__ import annotations

import json
import math
import time
from datetime import date, datetime

import pytest

from maestro_ml.domain.errors import InvalidInput
from maestro_ml.domain.signature import (
    MAX_REPORTED_ERRORS,
    ColumnSpec,
    SignatureValidator,
    validate_rows,
    validator_for_json,
)

SIGNATURE = {
    "inputs": [
        {"name": "age", "type": "long"},
        {"name": "income", "type": "double"},
        {"name": "member", "type": "boolean"},
        {"name": "city", "type": "string"},
        {"name": "joined", "type": "datetime"},
    ],
    "outputs": [{"name": "score", "type": "double"}],
}
GOOD_ROW = {
    "age": 41,
    "income": 52000.5,
    "member": True,
    "city": "Lyon",
    "joined": "2021-03-04T05:06:07Z",
}


def errors_of(rows, signature=SIGNATURE) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        validate_rows(rows, signature)
    return caught.value


def test_good_row_passes_in_signature_order():
    shuffled = dict(reversed(list(GOOD_ROW.items())))
    [row] = validate_rows([shuffled], SIGNATURE)
    assert row == GOOD_ROW
    assert list(row) == ["age", "income", "member", "city", "joined"]


def test_rows_are_copied_not_mutated():
    original = {**GOOD_ROW, "income": 3}
    [row] = validate_rows([original], SIGNATURE)
    assert row["income"] == 3.0 and isinstance(row["income"], float)
    assert original["income"] == 3 and isinstance(original["income"], int)


@pytest.mark.parametrize(
    ("type_name", "value", "expected"),
    [
        ("long", 5, 5),
        ("long", -(2**63), -(2**63)),
        ("long", 2**63 - 1, 2**63 - 1),
        ("long", 3.0, 3),
        ("long", -0.0, 0),
        ("integer", 2**31 - 1, 2**31 - 1),
        ("double", 1.5, 1.5),
        ("double", 2, 2.0),
        ("double", None, None),
        ("float", 7, 7.0),
        ("boolean", True, True),
        ("boolean", False, False),
        ("string", "", ""),
        ("string", "Zürich", "Zürich"),
        ("datetime", "2024-01-02", "2024-01-02"),
        ("datetime", "2024-01-02T03:04:05.123+02:00", "2024-01-02T03:04:05.123+02:00"),
        ("datetime", datetime(2024, 1, 2), datetime(2024, 1, 2)),
        ("datetime", date(2024, 1, 2), date(2024, 1, 2)),
    ],
)
def test_accepted_values(type_name, value, expected):
    signature = {"inputs": [{"name": "x", "type": type_name}]}
    [row] = validate_rows([{"x": value}], signature)
    assert row["x"] == expected
    assert type(row["x"]) is type(expected)


def test_double_keeps_nan_and_infinity():
    signature = {"inputs": [{"name": "x", "type": "double"}]}
    rows = validate_rows([{"x": math.nan}, {"x": math.inf}], signature)
    assert math.isnan(rows[0]["x"]) and rows[1]["x"] == math.inf


@pytest.mark.parametrize(
    ("type_name", "value", "got"),
    [
        ("long", True, "got boolean"),
        ("long", 1.5, "got number 1.5 with a fractional part"),
        ("long", math.nan, "got number nan"),
        ("long", "3", "got string"),
        ("long", None, "got null"),
        ("long", 2**63, "outside the 64-bit range"),
        ("long", -(2**63) - 1, "outside the 64-bit range"),
        ("long", 1e30, "outside the 64-bit range"),
        ("integer", 2**31, "outside the 32-bit range"),
        ("long", [1], "got array"),
        ("long", {"v": 1}, "got object"),
        ("double", False, "got boolean"),
        ("double", "1.5", "got string"),
        ("double", 10**400, "too large for a double"),
        ("float", "x", "got string"),
        ("boolean", 1, "got integer"),
        ("boolean", "true", "got string"),
        ("boolean", None, "got null"),
        ("string", 5, "got integer"),
        ("string", 1.5, "got number"),
        ("string", None, "got null"),
        ("string", ["a"], "got array"),
        ("datetime", "yesterday", "not an ISO 8601 datetime"),
        ("datetime", 1700000000, "got integer"),
        ("datetime", None, "got null"),
    ],
)
def test_wrong_types_name_feature_expected_type_and_got(type_name, value, got):
    signature = {"inputs": [{"name": "x", "type": type_name}]}
    error = errors_of([{"x": value}], signature)
    assert f"feature 'x' must be {type_name}, got " in error.detail
    assert got in error.detail
    assert len(error.detail) < 200
    [problem] = error.extra["errors"]
    assert problem["feature"] == "x"
    assert problem["row"] is None


def test_missing_feature_is_named():
    row = dict(GOOD_ROW)
    del row["city"]
    error = errors_of([row])
    assert error.detail == "Invalid prediction input: feature 'city' is missing"
    assert error.extra["errors"] == [
        {"row": None, "feature": "city", "message": "feature 'city' is missing"}
    ]


def test_unknown_feature_is_named():
    error = errors_of([{**GOOD_ROW, "colour": "red"}])
    assert "feature 'colour' is not an input of this model" in error.detail


def test_row_index_is_named_when_there_are_several_rows():
    bad = dict(GOOD_ROW)
    del bad["age"]
    error = errors_of([GOOD_ROW, GOOD_ROW, bad])
    assert "row 2: feature 'age' is missing" in error.detail
    assert error.extra["errors"][0]["row"] == 2


def test_several_problems_are_collected():
    error = errors_of([{"age": "old", "income": "rich", "member": 1, "city": 3}])
    features = [problem["feature"] for problem in error.extra["errors"]]
    assert sorted(features) == ["age", "city", "income", "joined", "member"]
    assert "(5 problems)" in error.detail


def test_problems_stop_at_the_reporting_limit():
    rows = [{"nope": 1}] * 50
    error = errors_of(rows)
    assert len(error.extra["errors"]) == MAX_REPORTED_ERRORS
    assert f"({MAX_REPORTED_ERRORS}+ problems)" in error.detail


def test_non_object_rows_are_refused():
    error = errors_of([GOOD_ROW, ["a"]])
    assert "row 1 must be an object" in error.detail
    assert error.extra["errors"][0] == {
        "row": 1,
        "feature": None,
        "message": "row 1 must be an object mapping feature names to values",
    }


def test_optional_columns_may_be_missing_or_null():
    signature = {
        "inputs": [
            {"name": "a", "type": "long"},
            {"name": "b", "type": "string", "required": False},
        ]
    }
    assert validate_rows([{"a": 1}], signature) == [{"a": 1, "b": None}]
    assert validate_rows([{"a": 1, "b": None}], signature) == [{"a": 1, "b": None}]
    assert validate_rows([{"a": 1, "b": "x"}], signature) == [{"a": 1, "b": "x"}]
    assert "must be string" in errors_of([{"a": 1, "b": 2}], signature).detail


def test_no_signature_only_checks_row_shape():
    assert validate_rows([{"anything": object}], None) == [{"anything": object}]
    assert validate_rows([{"a": 1}], {"outputs": []}) == [{"a": 1}]
    assert "must be an object" in errors_of([1], None).detail


def test_signature_inputs_may_be_json_text_as_mlflow_stores_them():
    signature = {"inputs": json.dumps(SIGNATURE["inputs"])}
    assert validate_rows([GOOD_ROW], signature) == [GOOD_ROW]


@pytest.mark.parametrize(
    ("signature", "fragment"),
    [
        ({"inputs": "not json"}, "not valid JSON"),
        ({"inputs": {"a": "long"}}, "non-empty list"),
        ({"inputs": [1]}, "input 0 must be an object"),
        ({"inputs": [{"type": "long"}]}, "needs a 'name'"),
        ({"inputs": [{"name": "a", "type": "tensor"}]}, "has type 'tensor'"),
        ({"inputs": [{"name": "a", "type": "long", "required": "no"}]}, "'required'"),
        (
            {"inputs": [{"name": "a", "type": "long"}, {"name": "a", "type": "double"}]},
            "duplicate input 'a'",
        ),
        ([], "expected an object"),
    ],
)
def test_bad_signatures_are_refused(signature, fragment):
    with pytest.raises(InvalidInput) as caught:
        SignatureValidator(signature)
    assert "Invalid model signature" in caught.value.detail
    assert fragment in caught.value.detail


def test_validators_compare_and_hash_by_columns():
    first, second = SignatureValidator(SIGNATURE), SignatureValidator(dict(SIGNATURE))
    assert first == second and hash(first) == hash(second)
    assert first.columns[0] == ColumnSpec("age", "long", True)
    assert first != SignatureValidator({"inputs": [{"name": "age", "type": "long"}]})


def test_validator_for_json_is_shared():
    text = json.dumps(SIGNATURE)
    assert validator_for_json(text) is validator_for_json(text)
    assert validator_for_json(text).validate([GOOD_ROW]) == [GOOD_ROW]
    with pytest.raises(InvalidInput):
        validator_for_json("{")
    with pytest.raises(InvalidInput):
        validator_for_json("[]")


def test_one_row_validation_is_fast():
    signature = {"inputs": [{"name": f"f{i}", "type": "double"} for i in range(100)]}
    validator = SignatureValidator(signature)
    row = {f"f{i}": float(i) for i in range(100)}
    rounds = 2000
    started = time.perf_counter()
    for _ in range(rounds):
        validator.validate([row])
    per_row = (time.perf_counter() - started) / rounds
    # Around 10 µs on a laptop; the bound only catches an accidental O(n²) or regex.
    assert per_row < 500e-6
