"""The retry delay of failed job attempts: exponential, capped, jittered into the upper half."""

from __future__ import annotations

import pytest

from maestro_ml.domain.errors import InvalidInput
from maestro_ml.domain.jobs import RETRY_MAX_SECONDS, retry_delay, validate_status


def test_delay_doubles_with_each_attempt():
    longest = [retry_delay(attempt, rand=lambda: 1.0) for attempt in range(1, 6)]
    shortest = [retry_delay(attempt, rand=lambda: 0.0) for attempt in range(1, 6)]

    assert longest == [2.0, 4.0, 8.0, 16.0, 32.0]
    assert shortest == [1.0, 2.0, 4.0, 8.0, 16.0]


def test_jitter_stays_in_the_upper_half_of_the_nominal_delay():
    delays = [retry_delay(3) for _ in range(500)]

    assert all(4.0 <= delay <= 8.0 for delay in delays)
    assert len(set(delays)) > 400  # actually random, so retries that failed together spread


def test_delay_is_capped_even_for_absurd_attempt_counts():
    assert retry_delay(30, rand=lambda: 1.0) == RETRY_MAX_SECONDS
    assert retry_delay(10_000, rand=lambda: 0.0) == RETRY_MAX_SECONDS / 2
    assert retry_delay(4, base=10, cap=25, rand=lambda: 1.0) == 25


def test_attempts_are_counted_from_one():
    with pytest.raises(ValueError, match="start at 1"):
        retry_delay(0)


def test_unknown_status_names_the_valid_ones():
    assert validate_status("running") == "running"
    with pytest.raises(InvalidInput, match="queued, running, succeeded, failed, cancelled"):
        validate_status("done")
