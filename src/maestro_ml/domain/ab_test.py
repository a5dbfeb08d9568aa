"""A/B test statistics: per-variant metric with a confidence interval, a significance test and
a verdict.

Classifiers are compared on accuracy: the chi-square test of independence (with Yates'
continuity correction on 2x2 tables, ``scipy.stats.chi2_contingency``) on the
correct/incorrect counts of the two best variants. Regressors are compared on RMSE: Welch's
t-test (unequal variances, ``scipy.stats.ttest_ind``) on the squared errors of the two best
variants, since a lower mean squared error is a lower RMSE.

The verdict is ``insufficient data`` until every variant has ``min_samples`` labelled
predictions (and there are at least two variants), then ``<best> is better`` when the test's
p-value is below ``alpha``, else ``no significant difference``. With more than two variants
the best is tested against the runner-up, the closest competitor.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

ACCURACY = "accuracy"
RMSE = "rmse"
INSUFFICIENT = "insufficient data"
NO_DIFFERENCE = "no significant difference"


@dataclass(frozen=True)
class VariantOutcome:
    name: str
    n: int
    metric: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class AbResult:
    metric: str
    variants: list[VariantOutcome]
    test: str | None
    statistic: float | None
    p_value: float | None
    verdict: str
    winner: str | None
    min_samples: int
    alpha: float


def better_verdict(name: str) -> str:
    return f"{name} is better"


def compare_accuracy(
    counts: Mapping[str, tuple[int, int]], min_samples: int, alpha: float
) -> AbResult:
    """Compare classifiers from ``{variant: (correct, total)}``."""
    variants = [
        VariantOutcome(name, total, correct / total if total else None,
                       *wilson_interval(correct, total, alpha))
        for name, (correct, total) in counts.items()
    ]
    ranked = sorted((v for v in variants if v.n), key=lambda v: -(v.metric or 0.0))
    statistic = p_value = None
    if len(ranked) >= 2:
        best, second = ranked[0], ranked[1]
        statistic, p_value = chi_square(
            counts[best.name][0], best.n, counts[second.name][0], second.n
        )
    return _result(ACCURACY, variants, ranked, "chi-square", statistic, p_value, min_samples, alpha)


def compare_rmse(
    errors: Mapping[str, Sequence[float]], min_samples: int, alpha: float
) -> AbResult:
    """Compare regressors from ``{variant: [prediction - truth, ...]}``."""
    squared = {
        name: np.square(np.asarray(values, dtype=np.float64)) for name, values in errors.items()
    }
    variants = [
        VariantOutcome(name, len(values), _rmse(values), *rmse_interval(values, alpha))
        for name, values in squared.items()
    ]
    ranked = sorted((v for v in variants if v.n), key=lambda v: v.metric or 0.0)
    statistic = p_value = None
    if len(ranked) >= 2 and ranked[0].n >= 2 and ranked[1].n >= 2:
        statistic, p_value = welch_t_test(squared[ranked[0].name], squared[ranked[1].name])
    return _result(RMSE, variants, ranked, "welch t-test", statistic, p_value, min_samples, alpha)


def _result(
    metric: str, variants: list[VariantOutcome], ranked: list[VariantOutcome], test: str,
    statistic: float | None, p_value: float | None, min_samples: int, alpha: float,
) -> AbResult:
    enough = len(variants) >= 2 and all(v.n >= min_samples for v in variants)
    winner = None
    if not enough or p_value is None:
        verdict = INSUFFICIENT
    elif p_value < alpha and ranked[0].metric != ranked[1].metric:
        winner = ranked[0].name
        verdict = better_verdict(winner)
    else:
        verdict = NO_DIFFERENCE
    return AbResult(
        metric=metric, variants=variants, test=test if p_value is not None else None,
        statistic=statistic, p_value=p_value, verdict=verdict, winner=winner,
        min_samples=min_samples, alpha=alpha,
    )


def chi_square(correct_a: int, n_a: int, correct_b: int, n_b: int) -> tuple[float, float]:
    """Chi-square statistic and p-value of the 2x2 correct/incorrect table (Yates-corrected).

    When every prediction was right (or every one wrong) there is nothing to tell apart.
    """
    table = np.array([[correct_a, n_a - correct_a], [correct_b, n_b - correct_b]])
    if (table.sum(axis=0) == 0).any():
        return 0.0, 1.0
    result = stats.chi2_contingency(table, correction=True)
    return float(result.statistic), float(result.pvalue)


def welch_t_test(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Welch's t statistic and two-sided p-value; constant equal samples give (0, 1)."""
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        # Both samples constant: identical means are no difference, different ones are certain.
        difference = float(a[0] - b[0])
        return (0.0, 1.0) if difference == 0 else (math.copysign(math.inf, difference), 0.0)
    result = stats.ttest_ind(a, b, equal_var=False)
    return float(result.statistic), float(result.pvalue)


def wilson_interval(correct: int, total: int, alpha: float) -> tuple[float | None, float | None]:
    """The Wilson score interval of a proportion at confidence 1 - alpha."""
    if total == 0:
        return None, None
    z = float(stats.norm.ppf(1 - alpha / 2))
    p = correct / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def rmse_interval(squared: np.ndarray, alpha: float) -> tuple[float | None, float | None]:
    """An interval for the RMSE: the t interval of the mean squared error, square-rooted."""
    n = len(squared)
    if n < 2:
        return None, None
    mean = float(squared.mean())
    half = float(stats.t.ppf(1 - alpha / 2, n - 1)) * float(squared.std(ddof=1)) / math.sqrt(n)
    return math.sqrt(max(0.0, mean - half)), math.sqrt(mean + half)


def _rmse(squared: np.ndarray) -> float | None:
    return math.sqrt(float(squared.mean())) if len(squared) else None
