"""Revision validation and the canary step machine."""

from __future__ import annotations

import pytest

from maestro_ml.domain.errors import InvalidInput
from maestro_ml.domain.rollout import (
    CanaryPolicy,
    VariantHealth,
    VariantSpec,
    check_variants,
    decide,
    drop_canary,
    promote_canary,
    shift_weights,
)


def spec(name: str, role: str, weight: float, version: int = 1) -> VariantSpec:
    return VariantSpec(name, f"id{version}", version, role, weight)


POLICY = CanaryPolicy(steps=(10.0, 50.0, 100.0), max_error_rate=0.05, max_p99_ms=100.0,
                      min_requests=40)


def test_valid_revision_passes():
    check_variants([spec("primary", "primary", 90), spec("canary", "canary", 10, 2),
                    spec("shadow", "shadow", 0, 3)])


@pytest.mark.parametrize(("variants", "message"), [
    ([], "at least one"),
    ([spec("a", "canary", 100)], "exactly one"),
    ([spec("a", "primary", 50), spec("b", "primary", 50)], "exactly one"),
    ([spec("a", "primary", 60), spec("b", "challenger", 30)], "sum to 100"),
    ([spec("a", "primary", 100), spec("a", "shadow", 0)], "unique"),
    ([spec("a", "primary", 100), spec("s", "shadow", 5)], "weight must be 0"),
    ([spec("a", "primary", 100), spec("x", "boss", 0)], "role must be"),
    ([spec("a", "primary", 80), spec("c", "canary", 10), spec("d", "canary", 10)], "at most one"),
])
def test_invalid_revisions_are_refused(variants, message):
    with pytest.raises(InvalidInput, match=message):
        check_variants(variants)


@pytest.mark.parametrize("steps", [(), (50.0, 25.0, 100.0), (10.0, 50.0), (0.0, 100.0)])
def test_bad_canary_steps_are_refused(steps):
    with pytest.raises(InvalidInput):
        CanaryPolicy(steps=steps).check()


def test_holds_until_enough_requests():
    decision = decide(POLICY, 10.0, VariantHealth(39, 0, 5.0))
    assert decision.action == "hold" and "39 of 40" in decision.reason


def test_promotes_to_the_next_step_when_healthy():
    decision = decide(POLICY, 10.0, VariantHealth(40, 1, 50.0))
    assert (decision.action, decision.weight) == ("promote", 50.0)


def test_completes_after_the_last_step_below_100():
    assert decide(POLICY, 50.0, VariantHealth(100, 0, 5.0)).action == "complete"


def test_rolls_back_on_errors_without_waiting_for_min_requests():
    # 5% of 40 requests is 2 errors: a third one is over the budget whatever comes next.
    decision = decide(POLICY, 10.0, VariantHealth(3, 3, 5.0))
    assert decision.action == "rollback" and "error rate" in decision.reason


def test_rolls_back_on_error_rate_and_on_latency():
    assert decide(POLICY, 10.0, VariantHealth(100, 6, 5.0)).action == "rollback"
    slow = decide(POLICY, 10.0, VariantHealth(100, 0, 250.0))
    assert slow.action == "rollback" and "p99" in slow.reason


def test_weight_changes_keep_the_total_at_100():
    variants = [spec("primary", "primary", 80), spec("ab", "challenger", 10, 3),
                spec("canary", "canary", 10, 2), spec("s", "shadow", 0, 4)]

    shifted = shift_weights(variants, 50.0)
    check_variants(shifted)
    assert {v.name: v.weight for v in shifted} == {"primary": 40, "ab": 10, "canary": 50, "s": 0}

    dropped = drop_canary(variants)
    check_variants(dropped)
    assert {v.name: v.weight for v in dropped} == {"primary": 90, "ab": 10, "s": 0}

    promoted = promote_canary([spec("primary", "primary", 50), spec("canary", "canary", 50, 2)])
    check_variants(promoted)
    assert [(v.name, v.role, v.version, v.weight) for v in promoted] == [
        ("canary", "primary", 2, 100.0)]
