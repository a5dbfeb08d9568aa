"""Durable jobs: their statuses and the retry delay after a retryable failure.

A job moves ``queued → running → succeeded | failed | cancelled``; a running job whose
attempt failed for a temporary reason, or whose worker died, goes back to ``queued`` with
``not_before`` set by :func:`retry_delay`::

    queued ──claim──▶ running ──▶ succeeded
      ▲  │               │ ├────▶ failed      (user error, timeout, attempts exhausted)
      │  │               │ └────▶ cancelled   (cancel requested, child killed)
      │  └──cancel──▶ cancelled
      └──retryable failure / lease expired──┘
"""

from __future__ import annotations

import random
from collections.abc import Callable

from maestro_ml.domain.errors import InvalidInput

QUEUED = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})

DEFAULT_MAX_ATTEMPTS = 3
RETRY_BASE_SECONDS = 2.0
RETRY_MAX_SECONDS = 300.0


def retry_delay(
    attempt: int,
    *,
    base: float = RETRY_BASE_SECONDS,
    cap: float = RETRY_MAX_SECONDS,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retrying after failed attempt number ``attempt`` (1-based).

    Exponential (``base * 2**(attempt-1)``, at most ``cap``) with "equal jitter": a random
    point in the upper half, so retries of jobs that failed together spread out, yet no
    retry comes sooner than half the nominal delay.

    >>> retry_delay(1, rand=lambda: 0.0), retry_delay(3, rand=lambda: 1.0)
    (1.0, 8.0)
    """
    if attempt < 1:
        raise ValueError("attempt numbers start at 1")
    # min() before the power would overflow for absurd attempt counts.
    nominal = min(cap, base * 2 ** min(attempt - 1, 62))
    return nominal / 2 + nominal / 2 * rand()


def validate_status(status: str) -> str:
    """``status`` if it is a job status, else ``InvalidInput`` listing the valid ones."""
    if status not in STATUSES:
        raise InvalidInput(
            f"status: unknown job status '{status}'; expected one of: {', '.join(STATUSES)}"
        )
    return status
