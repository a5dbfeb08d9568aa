"""proto3 JSON numbers as MLflow clients send them: int64 and double fields."""

from __future__ import annotations

import math

import orjson
import pytest

from maestro_ml.compat.mlflow.common import parse_double, parse_int64
from maestro_ml.domain.errors import InvalidInput


@pytest.mark.parametrize(("given", "read"), [
    (7, 7), ("7", 7), (" -12 ", -12), (3.0, 3), (2**53 * 1.0, 2**53),
    (2**63 - 1, 2**63 - 1), (-(2**63), -(2**63)), (str(2**63 - 1), 2**63 - 1),
])
def test_int64_reads_integers_and_their_exact_forms(given: object, read: int):
    assert parse_int64(given, "step") == read


@pytest.mark.parametrize("given", [
    True, None, [1], "x", "1.5", 1.5, 2**63, -(2**63) - 1, str(2**63), 2.0**53 + 2,
    orjson.loads(b"-9223372036854775809"),  # arrives as a float that rounds to -2**63
])
def test_int64_refuses_what_is_no_exact_64_bit_integer(given: object):
    with pytest.raises(InvalidInput, match="must be"):
        parse_int64(given, "step")


def test_double_reads_numbers_and_proto3_strings():
    assert parse_double(3, "value") == 3.0 and type(parse_double(3, "value")) is float
    assert parse_double("1.25", "value") == 1.25
    assert math.isnan(parse_double("NaN", "value"))
    assert parse_double("-Infinity", "value") == -math.inf
    for bad in (True, None, "high", [1.0], 10**400):
        with pytest.raises(InvalidInput):
            parse_double(bad, "value")
