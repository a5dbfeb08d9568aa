"""Tracking rules: run statuses, lifecycle views, key and value limits, batch limits.

The rules follow MLflow's so that its clients behave the same here: a key is 1-250
characters of letters, digits, ``_ - . /`` and spaces, with no empty, ``.`` or ``..``
segment; a param value is at most 6000 characters, a tag value 8000; a batch holds at most
1000 metrics, 100 params and 100 tags. Times of runs and metrics are epoch milliseconds.

>>> validate_key("train/loss", "metric"), validate_status("finished")
('train/loss', 'FINISHED')
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping
from typing import Any

from maestro_ml.domain.errors import InvalidInput

RUNNING, SCHEDULED, FINISHED, FAILED, KILLED = (
    "RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED",
)
RUN_STATUSES = (RUNNING, SCHEDULED, FINISHED, FAILED, KILLED)
TERMINAL_STATUSES = frozenset({FINISHED, FAILED, KILLED})

ACTIVE, DELETED, ALL = "active", "deleted", "all"
VIEWS = (ACTIVE, DELETED, ALL)

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_BATCH_METRICS = 1000
MAX_BATCH_PARAMS = 100
MAX_BATCH_TAGS = 100
MAX_TAGS = 100

_INT64 = 2**63
_KEY = re.compile(r"[\w.\- /]+")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def generated_name(prefix: str) -> str:
    """A fresh readable name such as ``experiment-1f2e3d4c``."""
    return f"{prefix}-{secrets.token_hex(4)}"


def validate_key(key: Any, kind: str) -> str:
    """Return ``key`` or raise naming the ``kind`` (metric, param, tag) and the rule broken."""
    if not isinstance(key, str) or not key:
        raise InvalidInput(f"{kind} key must be a non-empty string", field="key")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(
            f"{kind} key is {len(key)} characters long; the limit is {MAX_KEY_LENGTH}",
            field="key", limit=MAX_KEY_LENGTH,
        )
    if not _KEY.fullmatch(key):
        raise InvalidInput(
            f"{kind} key {key[:80]!r} may only contain letters, digits, '_', '-', '.', "
            "' ' and '/'", field="key",
        )
    if any(segment in ("", ".", "..") for segment in key.split("/")):
        raise InvalidInput(
            f"{kind} key {key[:80]!r} has an empty, '.' or '..' path segment", field="key"
        )
    return key


def validate_value(value: Any, kind: str, key: str) -> str:
    """A param or tag value: a string within the limit of its kind."""
    limit = MAX_PARAM_VALUE_LENGTH if kind == "param" else MAX_TAG_VALUE_LENGTH
    if not isinstance(value, str):
        raise InvalidInput(f"value of {kind} '{key}' must be a string", field="value")
    if len(value) > limit:
        raise InvalidInput(
            f"value of {kind} '{key}' is {len(value)} characters long; the limit is {limit}",
            field="value", limit=limit,
        )
    return value


def validate_tags(tags: Mapping[str, Any] | None, limit: int = MAX_TAGS) -> dict[str, str]:
    """A ``{key: value}`` tag mapping, each key and value checked."""
    if not tags:
        return {}
    if len(tags) > limit:
        raise InvalidInput(f"at most {limit} tags, got {len(tags)}", field="tags", limit=limit)
    return {validate_key(k, "tag"): validate_value(v, "tag", k) for k, v in tags.items()}


def validate_int64(value: Any, field: str) -> int:
    """An integer that fits the BIGINT columns (steps, epoch-millisecond times)."""
    if isinstance(value, bool) or not isinstance(value, int) or not -_INT64 <= value < _INT64:
        raise InvalidInput(f"{field} must be a 64-bit integer", field=field)
    return value


def validate_status(status: Any) -> str:
    """A run status, case-insensitive, as its upper-case name."""
    name = status.upper() if isinstance(status, str) else None
    if name not in RUN_STATUSES:
        raise InvalidInput(
            f"unknown run status {status!r}; use one of {', '.join(RUN_STATUSES)}",
            field="status",
        )
    return name


def validate_view(view: Any) -> str:
    if view not in VIEWS:
        raise InvalidInput(f"view must be one of {', '.join(VIEWS)}, got {view!r}", field="view")
    return str(view)
