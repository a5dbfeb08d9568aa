"""Connection-pool and statement metrics of a SQLAlchemy engine, fed by engine/pool events.

Events read the live metrics at fire time, so an engine built while metrics are off costs
one global read per statement. The pool wait is timed by ``TimedQueuePool`` (SQLAlchemy has
no "before checkout" event): ``_do_get`` is where a checkout blocks for a free connection.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.pool import QueuePool

from . import metrics as platform_metrics

_START_KEY = "maestro_query_start"


class TimedQueuePool(QueuePool):
    """A QueuePool that reports how long each checkout waited."""

    def _do_get(self) -> Any:
        start = time.perf_counter()
        try:
            return super()._do_get()
        finally:
            live = platform_metrics.active_metrics()
            if live is not None:
                live.db_wait.observe(time.perf_counter() - start)


def observe_engine(engine: Engine) -> None:
    """Attach the pool and statement events to ``engine``."""
    event.listen(engine, "before_cursor_execute", _before_execute)
    event.listen(engine, "after_cursor_execute", _after_execute)
    pool = engine.pool
    overflow = getattr(pool, "overflow", None)

    def checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        live = platform_metrics.active_metrics()
        record.info[_START_KEY] = live is not None  # checkin undoes only what was counted
        if live is not None:
            live.db_in_use.inc()
            if overflow is not None:
                live.db_overflow.set(max(0, overflow()))

    def checked_in(dbapi_connection: Any, record: Any) -> None:
        live = platform_metrics.active_metrics()
        if live is not None and record.info.pop(_START_KEY, False):
            live.db_in_use.dec()
            if overflow is not None:
                live.db_overflow.set(max(0, overflow()))

    event.listen(pool, "checkout", checked_out)
    event.listen(pool, "checkin", checked_in)


def observe_statement(start: float) -> None:
    """Record a statement run on the driver directly (past the engine's events)."""
    live = platform_metrics.active_metrics()
    if live is not None:
        live.db_query.observe(time.perf_counter() - start)


def _before_execute(conn: Any, cursor: Any, statement: Any, params: Any, context: Any,
                    executemany: bool) -> None:
    conn.info[_START_KEY] = time.perf_counter()


def _after_execute(conn: Any, cursor: Any, statement: Any, params: Any, context: Any,
                   executemany: bool) -> None:
    start = conn.info.pop(_START_KEY, None)
    live = platform_metrics.active_metrics()
    if live is not None and start is not None:
        live.db_query.observe(time.perf_counter() - start)
