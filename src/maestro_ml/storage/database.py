"""Engine and session factory for SQLite (WAL, foreign keys) and PostgreSQL."""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import sessionmaker

from maestro_ml.observability.db_metrics import TimedQueuePool, observe_engine

from .tenancy import TenantSession


def build_engine(url: str, pool_size: int = 10) -> Engine:
    """Create the engine; SQLite gets WAL, foreign keys and a busy timeout on every connection."""
    if url.startswith("sqlite"):
        in_memory = url in ("sqlite://", "sqlite:///:memory:") or "mode=memory" in url
        pool: dict[str, Any] = {} if in_memory else {"poolclass": TimedQueuePool}
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **pool
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate_on_write)
    else:
        engine = create_engine(
            url, pool_size=pool_size, max_overflow=pool_size * 2, pool_timeout=10,
            poolclass=TimedQueuePool,
        )
        event.listen(engine, "checkin", _note_checkin)
        event.listen(engine, "checkout", _idle_pinger(engine.dialect))
    observe_engine(engine)  # pool and statement metrics
    return engine


# A pooled connection idle longer than this is pinged before use. SQLAlchemy's
# ``pool_pre_ping`` pings on every checkout: a round trip per transaction, as much as a
# small statement costs. A connection handed back moments ago was working moments ago; one
# that sat idle may have been dropped (server restart, proxy or firewall timeout).
PING_AFTER_IDLE_SECONDS = 5.0


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _idle_pinger(dialect: Any) -> Any:
    def ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("checked_in_at")
        if returned is None or time.monotonic() - returned < PING_AFTER_IDLE_SECONDS:
            return  # new, or back in the pool only just now
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool discards it and connects afresh (3 tries)
            raise DisconnectionError("a pooled connection failed its ping") from exc

    return ping_if_idle


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy control transactions (pysqlite's implicit BEGIN defeats them).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin_immediate_on_write(connection: Any) -> None:
    # A deferred BEGIN that later writes can fail with "database is locked" instead of
    # waiting; taking the write lock up front makes concurrent writers queue politely.
    write = connection.get_execution_options().get("sqlite_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


_WRITER_LOCKS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()
_WRITER_LOCKS_GUARD = threading.Lock()


def sqlite_writer_lock(engine: Engine) -> threading.RLock:
    """The in-process lock a SQLite writer holds from ``BEGIN IMMEDIATE`` to commit.

    SQLite admits one writer at a time; a second one waits in SQLite's busy handler, which
    sleeps and polls (1 ms, 2 ms, 5 ms ...), so two threads of one process writing in turn
    lose milliseconds per hand-over. Queueing them on a lock first hands the database over
    the moment the writer before finishes; other processes still meet the busy timeout.
    Re-entrant, so a thread that nests write transactions behaves as it would without it.
    """
    lock = _WRITER_LOCKS.get(engine)
    if lock is None:
        with _WRITER_LOCKS_GUARD:
            lock = _WRITER_LOCKS.setdefault(engine, threading.RLock())
    return lock


def build_session_factory(engine: Engine) -> sessionmaker[TenantSession]:
    return sessionmaker(bind=engine, class_=TenantSession, expire_on_commit=False)
