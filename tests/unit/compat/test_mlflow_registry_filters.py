"""The MLflow registry filter language: what matches, and the errors for what is not valid."""

from __future__ import annotations

import pytest

from maestro_ml.compat.mlflow.registry_filters import (
    LOGGED_MODEL_ATTRIBUTES,
    MODEL_ATTRIBUTES,
    VERSION_ATTRIBUTES,
    compile_filter,
    exact_name,
    name_pattern,
    parse_filter,
    parse_order_by,
)
from maestro_ml.domain.errors import InvalidInput

MODEL = {"name": "churn-v2", "tags": {"team": "ds", "mlflow.prompt.is_prompt": "false"}}


@pytest.mark.parametrize(("text", "expected"), [
    ("", True),
    ("name = 'churn-v2'", True),
    ("name != 'churn-v2'", False),
    ("name LIKE 'churn%'", True),
    ("name LIKE 'CHURN%'", False),
    ("name ILIKE 'CHURN%'", True),
    ("name LIKE 'churn-v_'", True),
    ("name IN ('a', 'churn-v2')", True),
    ("name NOT IN ('a', 'churn-v2')", False),
    ("tags.team = 'ds'", True),
    ("tag.`team` = 'ds'", True),
    ("tags.missing = 'x'", False),
    ("tags.missing != 'x'", True),
    ("name LIKE '%churn%' AND tag.`mlflow.prompt.is_prompt` != 'true'", True),
    ("name LIKE '%churn%' and tags.team = 'ml'", False),
])
def test_model_filters_match_like_mlflow(text: str, expected: bool) -> None:
    assert compile_filter(text, MODEL_ATTRIBUTES)(MODEL) is expected


def test_version_filters_compare_version_numbers_as_numbers() -> None:
    facts = {"name": "m", "version_number": 10, "run_id": "r1", "tags": {}}
    assert compile_filter("version_number > 9", VERSION_ATTRIBUTES)(facts)
    assert not compile_filter("version_number <= 9", VERSION_ATTRIBUTES)(facts)
    assert compile_filter("run_id IN ('r1', 'r2') AND name = 'm'", VERSION_ATTRIBUTES)(facts)
    assert compile_filter("version_number = '10'", VERSION_ATTRIBUTES)(facts)


def test_logged_model_filters_read_params_and_status() -> None:
    facts = {"name": "model", "status": "LOGGED_MODEL_READY", "params": {"C": "1.0"}, "tags": {}}
    assert compile_filter("params.C = '1.0' AND status = 'LOGGED_MODEL_READY'",
                          LOGGED_MODEL_ATTRIBUTES)(facts)


@pytest.mark.parametrize(("text", "expected"), [
    ("metrics.acc > 0.9", True),  # one of the values passes: enough
    ("metrics.acc < 0.3", True),
    ("metric.`acc` >= 0.95", True),
    ("metrics.acc = 0.5", False),
    ("metrics.acc != 0.2", True),
    ("metrics.loss < 1", False),  # no value of loss at all
    ("metrics.acc > 0.9 AND params.C = '1.0'", True),
    ("metrics.acc > 0.9 AND params.C = '2.0'", False),
])
def test_logged_model_metric_clauses_test_any_of_the_values(text: str, expected: bool) -> None:
    facts = {"name": "model", "params": {"C": "1.0"}, "tags": {},
             "metrics": [("acc", 0.2), ("acc", 0.95), ("f1", 0.5)]}
    assert compile_filter(text, LOGGED_MODEL_ATTRIBUTES, metrics=True)(facts) is expected


@pytest.mark.parametrize("text", ["metrics.acc > 'high'", "metrics.acc LIKE '0.%'",
                                  "metrics.acc IN ('1')", "metrics. > 1"])
def test_invalid_metric_clauses_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_filter(text, LOGGED_MODEL_ATTRIBUTES, metrics=True)


def test_metric_clauses_belong_to_logged_model_searches_only() -> None:
    with pytest.raises(InvalidInput, match="unknown attribute"):
        parse_filter("metrics.acc > 1", MODEL_ATTRIBUTES)


@pytest.mark.parametrize("text", [
    "name ~ 'x'", "colour = 'red'", "name = 'x' OR name = 'y'", "name LIKE 3",
    "name = 'x' AND", "name IN ('a'", "version_number LIKE '1%'", "tags. = 'x'",
    "name = 'unterminated",
])
def test_invalid_filters_are_refused_with_a_message(text: str) -> None:
    attributes = VERSION_ATTRIBUTES if "version_number" in text else MODEL_ATTRIBUTES
    with pytest.raises(InvalidInput):
        parse_filter(text, attributes)


def test_name_clauses_narrow_the_rows_read() -> None:
    clauses = parse_filter("name = 'a' AND name LIKE 'a%'", VERSION_ATTRIBUTES)
    assert exact_name(clauses) == "a" and name_pattern(clauses) == "a%"


def test_order_by_maps_mlflow_keys_and_directions() -> None:
    fields = {"name": "name", "last_updated_timestamp": "updated_at"}
    assert parse_order_by(["name DESC", "last_updated_timestamp"], fields, []) == [
        ("name", False), ("updated_at", True)]
    assert parse_order_by([], fields, [("name", True)]) == [("name", True)]
    for bad in (["colour"], ["name SIDEWAYS"], ["name ASC extra"]):
        with pytest.raises(InvalidInput):
            parse_order_by(bad, fields, [])
