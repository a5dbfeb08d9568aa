"""The experiment-search language: parsing, matching and ordering keys."""

from __future__ import annotations

import pytest

from maestro_ml.domain.errors import InvalidInput
from maestro_ml.domain.search_experiments import (
    like,
    matches,
    parse_experiment_filter,
    parse_experiment_order,
)


def test_clauses_match_name_tags_and_times():
    clauses = parse_experiment_filter(
        "attributes.name ILIKE 'CHURN%' and tags.`team name` = 'ml' and creation_time >= 10"
    )
    assert all(matches(c, "churn-v2", {"team name": "ml"}, 10, 20) for c in clauses)
    assert not matches(clauses[1], "churn-v2", {}, 10, 20)  # a missing tag never matches
    assert not matches(clauses[2], "churn-v2", {"team name": "ml"}, 9, 20)


@pytest.mark.parametrize("text", [
    "colour = 'red'", "name > 'a'", "creation_time = 'yesterday'", "name = unquoted",
    "name = 'a' or name = 'b'", "tags. = 'x'",
])
def test_invalid_filters_name_the_problem(text: str):
    with pytest.raises(InvalidInput):
        parse_experiment_filter(text)


def test_like_is_case_sensitive_and_ilike_is_not():
    assert like("a_c%", "abcdef") and not like("A%", "abc")
    assert like("A%", "abc", case_insensitive=True)
    assert like("50.5%", "50.5 percent") and not like("50.5%", "5005")


def test_order_keys():
    assert parse_experiment_order(["name", "attributes.creation_time DESC"]) == [
        ("name", False), ("creation_time", True)]
    for bad in (["name sideways"], ["owner ASC"], [""]):
        with pytest.raises(InvalidInput):
            parse_experiment_order(bad)
