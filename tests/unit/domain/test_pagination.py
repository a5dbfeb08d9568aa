"""Page tokens and page sizes."""

from __future__ import annotations

import base64
import json

import pytest

from maestro_ml.domain.errors import InvalidInput
from maestro_ml.domain.pagination import (
    MAX_TOKEN_LENGTH,
    clamp_page_size,
    decode_cursor,
    encode_cursor,
)


def b64(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"id": "r-1", "start_time": 1700000000000},
        {"score": -0.5, "name": "Zürich ✓", "nested": {"a": [1, None, True]}},
        {"k": "???>>>~~~"},  # bytes that encode to '-' and '_' in URL-safe base64
    ],
)
def test_cursor_round_trips(values):
    token = encode_cursor(values)
    assert decode_cursor(token) == values


def test_token_is_url_safe_unpadded_compact_json():
    token = encode_cursor({"b": 1, "a": "x"})
    assert "=" not in token and "+" not in token and "/" not in token
    padded = token + "=" * (-len(token) % 4)
    assert base64.urlsafe_b64decode(padded) == b'{"a":"x","b":1}'


def test_encoding_is_deterministic():
    assert encode_cursor({"a": 1, "b": 2}) == encode_cursor({"b": 2, "a": 1})


def test_encode_refuses_values_that_would_not_decode():
    with pytest.raises(ValueError):
        encode_cursor({"v": "x" * MAX_TOKEN_LENGTH})
    with pytest.raises(ValueError):
        encode_cursor({"v": float("nan")})
    with pytest.raises(TypeError):
        encode_cursor(["not", "a", "dict"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "token",
    [
        "",
        "!!!!",
        "abc=",  # padding is never part of a token
        "a",  # no base64 text has length 1 mod 4
        "abcde",
        "a+b/",  # standard, not URL-safe, alphabet
        " " + b64('{"a":1}'),
        b64("not json"),
        b64("[1, 2]"),
        b64('"string"'),
        b64("42"),
        b64("null"),
        b64('{"a": NaN}'),
        b64('{"a": Infinity}'),
        b64(b'{"a":"\xff"}'),
        b64("[" * 300 + "]" * 300),
        b64('{"a":"' + "x" * 400 + '"}'),  # over the length limit
        "A" * (MAX_TOKEN_LENGTH + 4),
        None,
        12,
    ],
)
def test_malformed_tokens_are_invalid(token):
    with pytest.raises(InvalidInput) as caught:
        decode_cursor(token)
    assert caught.value.detail == "invalid page token"


def test_token_at_the_length_limit_decodes():
    values = {"v": ""}
    while len(b64(json.dumps({"v": values["v"] + "x"}, separators=(",", ":")))) <= 512:
        values["v"] += "x"
    token = encode_cursor(values)
    assert MAX_TOKEN_LENGTH - 4 < len(token) <= MAX_TOKEN_LENGTH
    assert decode_cursor(token) == values


def test_decoded_values_are_plain_json():
    assert decode_cursor(b64(json.dumps({"a": [1, 2.5]}))) == {"a": [1, 2.5]}


@pytest.mark.parametrize(
    ("requested", "expected"), [(None, 50), (1, 1), (50, 50), (999, 999), (1000, 1000)]
)
def test_page_size_within_bounds(requested, expected):
    assert clamp_page_size(requested) == expected


def test_page_size_custom_default_and_maximum():
    assert clamp_page_size(None, default=20, maximum=100) == 20
    assert clamp_page_size(None, default=500, maximum=100) == 100
    assert clamp_page_size(100, default=20, maximum=100) == 100


@pytest.mark.parametrize("requested", [0, -1, 1001, 10**9])
def test_page_size_out_of_bounds_names_the_maximum(requested):
    with pytest.raises(InvalidInput) as caught:
        clamp_page_size(requested)
    assert "1000" in caught.value.detail
    assert caught.value.extra["maximum"] == 1000


@pytest.mark.parametrize("requested", [True, 2.5, "10"])
def test_page_size_must_be_an_integer(requested):
    with pytest.raises(InvalidInput):
        clamp_page_size(requested)  # type: ignore[arg-type]
