"""A/B statistics against values worked out by hand (and textbook tables)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from maestro_ml.domain.ab_test import (
    INSUFFICIENT,
    NO_DIFFERENCE,
    chi_square,
    compare_accuracy,
    compare_rmse,
    rmse_interval,
    welch_t_test,
    wilson_interval,
)


def test_chi_square_of_a_2x2_table_uses_yates_correction() -> None:
    # Expected counts 80/20 per row; |O - E| = 10, corrected 9.5 in every cell.
    statistic, p_value = chi_square(90, 100, 70, 100)
    assert statistic == pytest.approx(9.5**2 * (1 / 80 + 1 / 20 + 1 / 80 + 1 / 20))
    assert statistic == pytest.approx(11.28125)
    assert p_value == pytest.approx(stats.chi2.sf(11.28125, df=1))
    assert p_value == pytest.approx(0.000783, abs=1e-5)


def test_chi_square_with_everything_right_is_no_difference() -> None:
    assert chi_square(50, 50, 80, 80) == (0.0, 1.0)


def test_welch_t_test_matches_the_formula() -> None:
    a = np.array([1.0, 2.0, 3.0, 4.0])
    b = np.array([2.0, 4.0, 6.0, 8.0, 10.0])
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    t = (a.mean() - b.mean()) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    statistic, p_value = welch_t_test(a, b)
    assert statistic == pytest.approx(t)
    assert p_value == pytest.approx(2 * stats.t.sf(abs(t), df))


def test_welch_t_test_of_constant_samples() -> None:
    assert welch_t_test(np.ones(5), np.ones(5)) == (0.0, 1.0)
    assert welch_t_test(np.ones(5), np.full(5, 2.0))[1] == 0.0


def test_wilson_interval_known_values() -> None:
    low, high = wilson_interval(0, 10, 0.05)
    assert low == pytest.approx(0.0)
    assert high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(81, 263, 0.05)  # the textbook example: 0.2553 .. 0.3662
    assert (low, high) == (pytest.approx(0.2553, abs=1e-4), pytest.approx(0.3662, abs=1e-4))
    assert wilson_interval(0, 0, 0.05) == (None, None)


def test_rmse_interval_is_the_t_interval_of_the_squared_errors() -> None:
    squared = np.array([1.0, 4.0, 9.0, 16.0])
    mean, sd = squared.mean(), squared.std(ddof=1)
    half = stats.t.ppf(0.975, 3) * sd / 2
    low, high = rmse_interval(squared, 0.05)
    assert low == pytest.approx(math.sqrt(max(0.0, mean - half)))
    assert high == pytest.approx(math.sqrt(mean + half))
    assert rmse_interval(np.array([1.0]), 0.05) == (None, None)


def test_accuracy_verdict_names_the_better_variant() -> None:
    result = compare_accuracy({"a": (90, 100), "b": (70, 100)}, min_samples=100, alpha=0.05)
    assert result.metric == "accuracy"
    assert result.verdict == "a is better"
    assert result.winner == "a"
    assert result.test == "chi-square"
    assert [v.metric for v in result.variants] == [0.9, 0.7]
    assert result.variants[0].ci_low < 0.9 < result.variants[0].ci_high


def test_accuracy_verdict_waits_for_min_samples_in_every_variant() -> None:
    result = compare_accuracy({"a": (90, 100), "b": (35, 50)}, min_samples=100, alpha=0.05)
    assert result.verdict == INSUFFICIENT
    assert result.p_value is not None  # reported, but not yet trusted
    assert compare_accuracy({"a": (90, 100)}, 10, 0.05).verdict == INSUFFICIENT


def test_accuracy_verdict_no_significant_difference() -> None:
    result = compare_accuracy({"a": (80, 100), "b": (78, 100)}, min_samples=100, alpha=0.05)
    assert result.verdict == NO_DIFFERENCE
    assert result.winner is None
    assert result.p_value > 0.05


def test_more_than_two_variants_test_the_best_against_the_runner_up() -> None:
    counts = {"a": (70, 200), "b": (190, 200), "c": (150, 200)}
    result = compare_accuracy(counts, min_samples=100, alpha=0.05)
    assert result.winner == "b"
    assert result.p_value == pytest.approx(chi_square(190, 200, 150, 200)[1])


def test_rmse_verdict_prefers_the_smaller_errors() -> None:
    rng = np.random.default_rng(7)
    errors = {"good": rng.normal(0, 1, 300).tolist(), "weak": rng.normal(0, 3, 300).tolist()}
    result = compare_rmse(errors, min_samples=100, alpha=0.05)
    assert result.metric == "rmse"
    assert result.test == "welch t-test"
    assert result.verdict == "good is better"
    good = next(v for v in result.variants if v.name == "good")
    assert good.metric == pytest.approx(math.sqrt(np.mean(np.square(errors["good"]))))


def test_rmse_with_one_sample_each_has_no_test() -> None:
    result = compare_rmse({"a": [1.0], "b": [2.0]}, min_samples=1, alpha=0.05)
    assert result.test is None
    assert result.verdict == INSUFFICIENT
