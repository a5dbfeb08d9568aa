"""Choosing the variant of a deployment that serves one request.

Weights are percentages of traffic. With a routing key the choice is sticky: the key's
SHA-256 picks a bucket in 0..9999 and the bucket falls into one variant's share of the
cumulative weights, so the same key always reaches the same variant for the same weights
(and, when a canary grows, keys only ever move towards the canary). Without a key the
bucket is random.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

BUCKETS = 10_000


def bucket_of(routing_key: str) -> int:
    """The stable bucket (0..9999) of a routing key."""
    digest = hashlib.sha256(routing_key.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def choose(
    weights: Sequence[tuple[str, float]], routing_key: str | None = None,
    rng: random.Random | None = None,
) -> str:
    """The name of the variant serving a request, from ``(name, weight percent)`` pairs.

    >>> choose([("canary", 10.0), ("primary", 90.0)], routing_key="user-42")  # doctest: +SKIP
    'primary'
    """
    if not weights:
        raise ValueError("no variant to choose from")
    if len(weights) == 1:
        return weights[0][0]
    if routing_key is not None:
        bucket = bucket_of(routing_key)
    else:
        bucket = (rng or random).randrange(BUCKETS)
    total = sum(weight for _, weight in weights) or 1.0
    cumulative = 0.0
    for name, weight in weights:
        cumulative += weight * BUCKETS / total
        if bucket < cumulative:
            return name
    return weights[-1][0]
