"""The run-search filter language and order-by keys."""

from __future__ import annotations

import pytest

from maestro_ml.domain.errors import InvalidInput
from maestro_ml.domain.search import (
    ATTRIBUTES,
    MAX_CLAUSES,
    MAX_FILTER_LENGTH,
    Clause,
    OrderKey,
    parse_filter,
    parse_order_by,
)


def one(text: str) -> Clause:
    clauses = parse_filter(text)
    assert len(clauses) == 1
    return clauses[0]


def error_of(text: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_filter(text)
    return caught.value


@pytest.mark.parametrize("text", ["", "   ", "\n\t", None])
def test_blank_filter_gives_no_clauses(text):
    assert parse_filter(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.acc > 0.9", Clause("metric", "acc", ">", 0.9)),
        ("metric.acc >= 1", Clause("metric", "acc", ">=", 1.0)),
        ("metrics.loss < -2.5", Clause("metric", "loss", "<", -2.5)),
        ("metrics.loss <= 1e-3", Clause("metric", "loss", "<=", 0.001)),
        ("metrics.loss != 2.5E+2", Clause("metric", "loss", "!=", 250.0)),
        ("metrics.loss = .5", Clause("metric", "loss", "=", 0.5)),
        ("metrics.loss = +3", Clause("metric", "loss", "=", 3.0)),
        ("params.model = 'rf'", Clause("param", "model", "=", "rf")),
        ('param.model != "rf"', Clause("param", "model", "!=", "rf")),
        ("parameters.model LIKE 'r%'", Clause("param", "model", "LIKE", "r%")),
        ("tags.team ILIKE '%ML%'", Clause("tag", "team", "ILIKE", "%ML%")),
        ("tag.team = 'a'", Clause("tag", "team", "=", "a")),
        ("attributes.status = 'FINISHED'", Clause("attribute", "status", "=", "FINISHED")),
        ("attribute.start_time > 100", Clause("attribute", "start_time", ">", 100.0)),
        ("attr.end_time < 5", Clause("attribute", "end_time", "<", 5.0)),
        ("run.run_name = 'x'", Clause("attribute", "run_name", "=", "x")),
        ("status = 'RUNNING'", Clause("attribute", "status", "=", "RUNNING")),
        ("run_name LIKE 'exp%'", Clause("attribute", "run_name", "LIKE", "exp%")),
        ("start_time >= 1700000000000", Clause("attribute", "start_time", ">=", 1.7e12)),
        ("created_at < 10", Clause("attribute", "created_at", "<", 10.0)),
        ("created > 10", Clause("attribute", "start_time", ">", 10.0)),
        ("user_id = 'u1'", Clause("attribute", "user_id", "=", "u1")),
        ("artifact_uri LIKE 's3://%'", Clause("attribute", "artifact_uri", "LIKE", "s3://%")),
        ("lifecycle_stage = 'active'", Clause("attribute", "lifecycle_stage", "=", "active")),
        ("datasets.name = 'iris'", Clause("dataset", "name", "=", "iris")),
        ("datasets.digest IN ('a1', 'b2')", Clause("dataset", "digest", "IN", ("a1", "b2"))),
        ("dataset.context = 'training'", Clause("dataset", "context", "=", "training")),
    ],
)
def test_single_clauses_parse_to_the_expected_clause(text, expected):
    assert one(text) == expected


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("metrics.`my key` > 1", "my key"),
        ("metrics.`val-loss.v2` > 1", "val-loss.v2"),
        ('metrics."my key" > 1', "my key"),
        ("metrics.val-loss > 1", "val-loss"),
        ("metrics.train/loss > 1", "train/loss"),
        ("tags.mlflow.source.name > 1", None),
    ],
)
def test_keys_may_be_quoted_or_hold_dots_dashes_and_slashes(text, key):
    if key is None:  # tags take strings: the key parses, the value does not
        assert "tag 'mlflow.source.name'" in error_of(text).detail
    else:
        assert one(text).key == key


def test_dotted_tag_keys_parse_bare_and_backquoted():
    assert one("tags.mlflow.source.name = 'x'").key == "mlflow.source.name"
    assert one("tags.`mlflow.source.name` = 'x'").key == "mlflow.source.name"


def test_unicode_keys_are_kept():
    assert one("metrics.genauigkeit_ü > 0").key == "genauigkeit_ü"


def test_clauses_are_joined_by_and_in_any_case():
    clauses = parse_filter(
        "metrics.acc > 0.9 and params.model = 'rf' AND tags.team = 'x' And status = 'FAILED'"
    )
    assert [c.entity for c in clauses] == ["metric", "param", "tag", "attribute"]


def test_operator_keywords_are_case_insensitive_and_normalised():
    assert one("params.m like 'a%'").op == "LIKE"
    assert one("params.m iLike 'a%'").op == "ILIKE"
    assert one("run_id in ('a')").op == "IN"
    assert one("run_id not   IN ('a', 'b')") == Clause("attribute", "run_id", "NOT IN", ("a", "b"))


def test_entity_prefixes_and_attribute_names_are_case_insensitive():
    assert one("METRICS.acc > 1").entity == "metric"
    assert one("Attributes.Status = 'x'").key == "status"


def test_no_whitespace_is_needed_around_symbolic_operators():
    assert parse_filter("metrics.a>=1 and params.b='x'") == [
        Clause("metric", "a", ">=", 1.0),
        Clause("param", "b", "=", "x"),
    ]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (r"tags.note = 'it\'s'", "it's"),
        ("tags.note = 'it''s'", "it's"),
        (r'tags.note = "say \"hi\""', 'say "hi"'),
        ('tags.note = "say ""hi"""', 'say "hi"'),
        (r"tags.note = 'back\\slash'", "back\\slash"),
        (r"tags.note LIKE '50\%'", "50\\%"),
        ("tags.note = ''", ""),
        ("tags.note = 'and or = > ('", "and or = > ("),
    ],
)
def test_string_escapes(text, value):
    assert one(text).value == value


def test_in_list_accepts_double_quotes_and_single_items():
    assert one('run_id IN ("a", \'b\',"c")').value == ("a", "b", "c")
    assert one("run_id IN ('only')").value == ("only",)


def test_aliases_of_run_name():
    assert one("attributes.`run name` = 'x'").key == "run_name"
    assert one("`Run Name` = 'x'").key == "run_name"


@pytest.mark.parametrize(
    "text",
    [
        "metrics.acc LIKE '0.9'",
        "metrics.acc ILIKE '0.9'",
        "metrics.acc IN ('1')",
        "start_time LIKE '1%'",
        "params.p > 'a'",
        "params.p <= 'a'",
        "tags.t IN ('a')",
        "tags.t NOT IN ('a')",
        "datasets.name > 'a'",
        "status >= 'a'",
    ],
)
def test_operators_an_entity_does_not_allow_are_refused(text):
    error = error_of(text)
    assert "is not allowed for" in error.detail
    assert "use one of" in error.detail


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.acc > '0.9'", "a number for metric 'acc'"),
        ("start_time > 'yesterday'", "a number for attribute 'start_time'"),
        ("params.lr = 0.1", "string values must be quoted"),
        ("status = RUNNING", "string values must be quoted"),
        ("run_id IN 'a'", "'(' to start a list"),
        ("run_id IN ('a' 'b')", "',' or ')'"),
        ("run_id IN ('a',)", "a quoted string"),
        ("run_id IN ()", "a quoted string"),
        ("run_id IN (1, 2)", "a quoted string"),
    ],
)
def test_values_of_the_wrong_kind_are_refused(text, expected):
    assert expected in error_of(text).detail


def test_unknown_attribute_is_named_with_the_valid_ones():
    error = error_of("colour = 'red'")
    assert "'colour'" in error.detail
    for name in ATTRIBUTES:
        assert name in error.detail
    assert error.extra["valid"] == sorted(ATTRIBUTES)
    assert error.extra["attribute"] == "colour"


def test_unknown_prefixed_attribute_is_named():
    error = error_of("attributes.colour = 'red'")
    assert "'colour'" in error.detail
    assert "status" in error.detail


def test_unknown_entity_is_named():
    error = error_of("metricz.acc > 1")
    assert "'metricz'" in error.detail
    assert "metrics, params, tags" in error.detail


def test_unknown_dataset_field_is_named():
    assert "'size'" in error_of("datasets.size = 'x'").detail


@pytest.mark.parametrize(
    ("text", "position", "token"),
    [
        ("metrics.acc >> 1", 14, ">"),
        ("metrics.acc 1", 13, "1"),
        ("metrics.acc == 1", 14, "="),
        ("metrics.acc > 1 and", 20, ""),
        ("metrics.acc > 1 metrics.b > 2", 17, "metrics.b"),
        ("metrics.acc > 1 or metrics.b > 2", 17, "or"),
        ("params.p = 'open", 12, "'"),
        ("params.`open = 'x'", 8, "`"),
        ("metrics.acc > 1.2.3", 15, "1.2.3"),
        ("metrics.acc > 12abc", 15, "12abc"),
        ("metrics.acc > 1 ; drop table runs", 17, ";"),
        ("and metrics.acc > 1", 1, "and"),
        ("> 1", 1, ">"),
        ("metrics. > 1", 1, "metrics."),
        ("metrics.`` > 1", 1, "metrics."),
        ("run_id NOT ('a')", 12, "("),
        ("metrics.acc > 1e999", 15, "1e999"),
    ],
)
def test_syntax_errors_report_position_and_token(text, position, token):
    error = error_of(text)
    assert error.extra["position"] == position
    assert error.extra["token"] == token
    assert f"position {position}" in error.detail


def test_or_is_explained():
    assert "OR is not supported" in error_of("metrics.a > 1 OR metrics.b > 1").detail


def test_filter_length_limit():
    clause = "params.p = '" + "x" * (MAX_FILTER_LENGTH - 14) + "'"
    assert len(clause) == MAX_FILTER_LENGTH - 1
    assert one(clause).value == "x" * (MAX_FILTER_LENGTH - 14)
    error = error_of(clause + "  ")
    assert str(MAX_FILTER_LENGTH) in error.detail


def test_clause_count_limit():
    at_limit = " and ".join(f"metrics.m{i} > {i}" for i in range(MAX_CLAUSES))
    assert len(parse_filter(at_limit)) == MAX_CLAUSES
    error = error_of(at_limit + " and metrics.extra > 1")
    assert str(MAX_CLAUSES) in error.detail


def test_non_string_filter_is_refused():
    with pytest.raises(InvalidInput):
        parse_filter(42)  # type: ignore[arg-type]


def test_clauses_are_immutable():
    clause = one("metrics.a > 1")
    with pytest.raises(AttributeError):
        clause.key = "b"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("metrics.acc DESC", OrderKey("metric", "acc", True)),
        ("metrics.acc desc", OrderKey("metric", "acc", True)),
        ("params.x", OrderKey("param", "x", False)),
        ("attributes.start_time ASC", OrderKey("attribute", "start_time", False)),
        ("start_time", OrderKey("attribute", "start_time", False)),
        ("created DESC", OrderKey("attribute", "start_time", True)),
        ("tags.`team name` DESC", OrderKey("tag", "team name", True)),
        ("metrics.`val loss`", OrderKey("metric", "val loss", False)),
        ("  run_name  ", OrderKey("attribute", "run_name", False)),
    ],
)
def test_order_by_items(item, expected):
    assert parse_order_by([item]) == [expected]


def test_order_by_keeps_item_order_and_accepts_none():
    assert parse_order_by(None) == []
    assert parse_order_by([]) == []
    assert parse_order_by(["metrics.a DESC", "start_time"]) == [
        OrderKey("metric", "a", True),
        OrderKey("attribute", "start_time", False),
    ]


def test_order_by_accepts_a_single_string():
    assert parse_order_by("metrics.a DESC") == [OrderKey("metric", "a", True)]


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("metrics.acc DOWN", "ASC, DESC"),
        ("metrics.acc DESC ASC", "end of the order_by"),
        ("colour", "Valid attributes are"),
        ("datasets.name", "dataset"),
        ("", "an identifier"),
        ("metrics.a, metrics.b", "ASC, DESC"),
    ],
)
def test_bad_order_by_items_are_refused(item, expected):
    with pytest.raises(InvalidInput) as caught:
        parse_order_by([item])
    assert expected in caught.value.detail


def test_order_by_item_count_limit():
    with pytest.raises(InvalidInput):
        parse_order_by(["start_time"] * 51)
