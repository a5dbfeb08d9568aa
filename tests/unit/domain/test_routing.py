"""Weighted, sticky variant choice."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from maestro_ml.domain.routing import BUCKETS, bucket_of, choose


def test_same_key_always_gets_the_same_variant():
    weights = [("canary", 30.0), ("primary", 70.0)]

    for key in ("user-1", "user-2", "ünïcode", ""):
        assert len({choose(weights, key) for _ in range(20)}) == 1


def test_keys_split_by_weight():
    weights = [("canary", 25.0), ("primary", 75.0)]

    counts = Counter(choose(weights, f"user-{i}") for i in range(20_000))

    assert counts["canary"] / 20_000 == pytest.approx(0.25, abs=0.015)


def test_without_key_the_split_is_random_by_weight():
    rng = random.Random(7)
    counts = Counter(choose([("a", 10.0), ("b", 90.0)], None, rng) for _ in range(20_000))

    assert counts["a"] / 20_000 == pytest.approx(0.10, abs=0.01)


def test_growing_the_first_variant_only_moves_keys_towards_it():
    keys = [f"user-{i}" for i in range(5000)]
    at_5 = {k for k in keys if choose([("canary", 5.0), ("primary", 95.0)], k) == "canary"}
    at_25 = {k for k in keys if choose([("canary", 25.0), ("primary", 75.0)], k) == "canary"}

    assert at_5 <= at_25 and len(at_25) > len(at_5)


def test_zero_weight_never_chosen_and_one_variant_always():
    assert {choose([("a", 0.0), ("b", 100.0)], f"k{i}") for i in range(500)} == {"b"}
    assert choose([("only", 100.0)]) == "only"
    with pytest.raises(ValueError):
        choose([])


def test_bucket_is_in_range_and_stable():
    assert 0 <= bucket_of("x") < BUCKETS
    assert bucket_of("x") == bucket_of("x")
