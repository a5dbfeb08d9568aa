"""Engine and session factory for SQLite (WAL, foreign keys) and PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
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
            url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
            **pool,
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


# How long a SQLite writer waits for another process's write transaction to end.
BUSY_TIMEOUT_MS = 30_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy control transactions (pysqlite's implicit BEGIN defeats them).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_begin_immediate_on_write(connection: Any) -> None:
    # A deferred BEGIN that later writes can fail with "database is locked" instead of
    # waiting; taking the write lock up front makes concurrent writers queue politely.
    if not connection.get_execution_options().get("sqlite_write", False):
        connection.exec_driver_sql("BEGIN")
    elif _BEGIN_WITHOUT_WAITING.get():
        begin_sqlite_write(connection.connection.driver_connection)
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def begin_sqlite_write(raw: sqlite3.Connection) -> None:
    """``BEGIN IMMEDIATE`` on a driver connection; in a ``LoopWriter`` call, without waiting."""
    if not _BEGIN_WITHOUT_WAITING.get():
        raw.execute("BEGIN IMMEDIATE")
        return
    _BEGIN_WITHOUT_WAITING.set(False)  # only a call's first write may decline
    raw.execute("PRAGMA busy_timeout=0")
    try:
        raw.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise WouldWait("another process is writing to the database") from exc
        raise
    finally:
        raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


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


class WouldWait(Exception):
    """A write that was to start at once found the database busy; nothing was written."""


_BEGIN_WITHOUT_WAITING: ContextVar[bool] = ContextVar("begin_without_waiting", default=False)


class LoopWriter:
    """Runs short SQLite writes on the calling thread only when they can start at once.

    The server's event loop hands a synchronous handler to a worker thread so that waiting
    (on the network, a lock, the disk) never stalls other requests. That hop and the two
    thread wake-ups around it cost about as much as a small SQLite transaction itself. Yet
    embedded SQLite work is CPU-bound Python under the GIL, which stalls the other threads
    alike wherever it runs; only *waiting* must stay off the loop. So ``attempt()`` says yes
    only if this process's writer lock is free this instant (it is then held for the whole
    call), and makes the call's first write transaction decline with ``WouldWait`` instead of
    entering SQLite's busy wait when another process holds the database. A declined call has
    written nothing and is run again in the worker pool. Once a write transaction has begun,
    later ones in the same call wait as usual: what the call committed must not be repeated.
    PostgreSQL always declines: its statements wait on the network.
    """

    def __init__(self, engine: Engine) -> None:
        self._lock = sqlite_writer_lock(engine) if engine.dialect.name == "sqlite" else None

    @contextmanager
    def attempt(self) -> Iterator[bool]:
        """``with writer.attempt() as now:`` — ``now`` says whether to run the call here."""
        lock = self._lock
        if lock is None or not lock.acquire(blocking=False):
            yield False
            return
        token = _BEGIN_WITHOUT_WAITING.set(True)
        try:
            yield True
        finally:
            _BEGIN_WITHOUT_WAITING.reset(token)
            lock.release()


def build_session_factory(engine: Engine) -> sessionmaker[TenantSession]:
    return sessionmaker(bind=engine, class_=TenantSession, expire_on_commit=False)
