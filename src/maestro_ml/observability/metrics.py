"""The platform's Prometheus metrics and the hooks the rest of the code calls to feed them.

Hooks are plain functions so callers (serving, services, jobs) never touch metric objects.
"""

from __future__ import annotations


def observe_prediction(
    deployment: str, variant: str, seconds: float, rows: int, outcome: str
) -> None:
    """One prediction request served by ``variant`` of ``deployment``; outcome 'ok' or 'error'."""


def observe_batch_size(size: int) -> None:
    """Rows in one model call of the micro-batcher."""


def observe_shadow(
    deployment: str, variant: str, agreed: bool, latency_delta_seconds: float
) -> None:
    """A shadow variant's answer compared with the primary's."""


def observe_model_cache(event: str) -> None:
    """A model-cache 'hit', 'miss' or 'eviction'."""


def set_model_cache_bytes(loaded_bytes: int) -> None:
    """Approximate bytes of the models held in this process's cache."""
