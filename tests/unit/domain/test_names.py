"""Display names and URL-safe slugs."""

from __future__ import annotations

import re

import pytest

from maestro_ml.domain.errors import InvalidInput
from maestro_ml.domain.names import MAX_SLUG_LENGTH, slugify, validate_name


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("churn", "churn"),
        ("Churn Model", "churn-model"),
        ("  churn   model  ", "churn-model"),
        ("churn--model__v2", "churn-model-v2"),
        ("-churn-", "churn"),
        ("Ünïcode Café", "unicode-cafe"),
        ("fraud/detector:v1.2", "fraud-detector-v1-2"),
        ("ＡＢＣ１２３", "abc123"),
        ("2024 model", "2024-model"),
        ("日本 model", "model"),
    ],
)
def test_slugify(name, slug):
    assert slugify(name) == slug


def test_slug_is_capped_without_a_trailing_dash():
    slug = slugify("a" * 62 + " b" + "c" * 10)
    assert slug == "a" * 62
    assert len(slugify("x" * 200)) == MAX_SLUG_LENGTH


@pytest.mark.parametrize("name", ["model", "A B C", "ü" * 100, "x--y", "1-2-3"])
def test_slugs_fit_a_dns_label(name):
    assert re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", slugify(name))


@pytest.mark.parametrize("name", ["", "   ", "---", "日本語", "🚀", "!!!"])
def test_slugify_refuses_names_without_letters_or_digits(name):
    with pytest.raises(InvalidInput):
        slugify(name)


def test_slugify_refuses_non_strings():
    with pytest.raises(InvalidInput):
        slugify(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("churn", "churn"),
        ("  churn model\t", "churn model"),
        ("Ünïcode 日本 🚀", "Ünïcode 日本 🚀"),
        ("a" * 256, "a" * 256),
    ],
)
def test_validate_name_strips_and_keeps(name, expected):
    assert validate_name(name, "model") == expected


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "experiment name must not be empty"),
        (" \n\t ", "experiment name must not be empty"),
        ("a" * 257, "experiment name is 257 characters long; the limit is 256"),
        ("bad\x00name", "experiment name contains control character U+0000"),
        ("bad\nname", "U+000A"),
        ("evil\u202egnp.exe", "U+202E"),
        ("zero\u200bwidth", "U+200B"),
        (42, "experiment name must be a string"),
    ],
)
def test_validate_name_refuses_and_names_the_kind(name, fragment):
    with pytest.raises(InvalidInput) as caught:
        validate_name(name, "experiment")
    assert fragment in caught.value.detail
    assert caught.value.extra["kind"] == "experiment"


def test_kind_that_already_says_name_is_not_doubled():
    with pytest.raises(InvalidInput) as caught:
        validate_name("", "tenant name")
    assert caught.value.detail == "tenant name must not be empty"


def test_validate_name_custom_limit():
    assert validate_name("abcd", "tag", max_len=4) == "abcd"
    with pytest.raises(InvalidInput) as caught:
        validate_name("abcde", "tag", max_len=4)
    assert "limit is 4" in caught.value.detail
