"""Readiness checks of the dependencies a replica needs before it takes traffic.

Each check answers ``{"ok": bool, "latency_ms": float, "error": str?}``; the error names
the failure (exception class and a short reason) without credentials: URLs are never
echoed. ``/readyz`` answers 503 when any check fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, text

from .migrate import current_revision, head_revision

REDIS_TIMEOUT_SECONDS = 1.0


def readiness_checks(
    engine: Engine, check_artifacts: Callable[[], Any], redis_url: str | None
) -> dict[str, dict[str, Any]]:
    checks = {"database": _timed(lambda: _database(engine))}
    if checks["database"]["ok"]:
        checks["migrations"] = _timed(lambda: _migrations(engine))
    else:
        checks["migrations"] = {"ok": False, "error": "database unreachable"}
    checks["artifact_store"] = _timed(check_artifacts)
    if redis_url:
        checks["redis"] = _timed(lambda: _redis(redis_url))
    return checks


def _timed(check: Callable[[], Any]) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        check()
    except Exception as exc:  # any failure of a dependency means "not ready"
        result: dict[str, Any] = {"ok": False, "error": _describe(exc)}
    else:
        result = {"ok": True}
    result["latency_ms"] = round((time.perf_counter() - start) * 1000, 3)
    return result


def _describe(exc: Exception) -> str:
    if isinstance(exc, NotReady):
        return str(exc)
    return type(exc).__name__


class NotReady(Exception):
    """A dependency answered, but not in a state this replica can serve with."""


def _database(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _migrations(engine: Engine) -> None:
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise NotReady(
            f"database schema at revision {current or 'none'}, this server needs {head}; "
            "run 'maestro db upgrade' (or start the server once with migrations enabled)"
        )


def _redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(
        url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
    )
    try:
        client.ping()
    finally:
        client.close()
