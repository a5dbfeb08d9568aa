"""The unit of work: one transaction, its repositories, and error translation.

``SqlUnitOfWork`` is the general one, on an ORM session. ``RunDataUnitOfWork`` serves the
calls that only append to a run (metrics, params, tags): no session, just a pooled driver
connection and ``RunAppends``, because those calls come in tight loops and the session's
bookkeeping costs more than the statements themselves.
"""

from __future__ import annotations

from threading import RLock
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import sessionmaker

from maestro_ml.domain.errors import AlreadyExists, Conflict, InvalidInput, Unavailable

from .database import begin_sqlite_write, sqlite_writer_lock
from .repositories import Repositories
from .repositories.run_appends import RunAppends
from .tenancy import TENANT_KEY, TenantSession


class _WriterTurn:
    """A SQLite writer's turn on this process's writer lock (``sqlite_writer_lock``)."""

    _writer_lock: RLock | None = None

    def _take_turn(self, engine: Engine) -> None:
        lock = sqlite_writer_lock(engine)
        lock.acquire()
        self._writer_lock = lock

    def _end_turn(self) -> None:
        lock, self._writer_lock = self._writer_lock, None
        if lock is not None:
            lock.release()


class SqlUnitOfWork(_WriterTurn, Repositories):
    """``with uow: ...; uow.commit()`` — rolled back unless committed.

    Opened for one tenant (every query scoped to it) or, explicitly, for the system.
    """

    def __init__(
        self, factory: sessionmaker[TenantSession], tenant_id: str | None, *, write: bool = True,
        autocommit: bool = False,
    ) -> None:
        """``autocommit``: on PostgreSQL each statement commits by itself, for a write that
        is one statement, with reads around it at most (``commit`` is then a no-op);
        SQLite writes as usual."""
        self._factory = factory
        self.tenant_id = tenant_id
        self._write = write
        self._autocommit = autocommit

    def __enter__(self) -> Self:
        session = self._factory()
        session.info[TENANT_KEY] = self.tenant_id
        bind = session.bind
        if self._write and isinstance(bind, Engine) and bind.dialect.name == "sqlite":
            self._take_turn(bind)
            try:
                session.connection(execution_options={"sqlite_write": True})
            except BaseException:
                session.close()
                self._end_turn()
                raise
        elif ((self._autocommit or not self._write) and isinstance(bind, Engine)
              and bind.dialect.name == "postgresql"):
            # No BEGIN and COMMIT/ROLLBACK around it, two round trips to the server. A read
            # needs none: under READ COMMITTED each statement takes its own snapshot inside
            # a transaction too, and a read holds no locks to keep until its end. A write
            # that asks for it is a single statement, which is its own transaction.
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        self.session = session
        self.bind_repositories(session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # close() rolls back whatever was not committed and detaches the rows without
        # expiring them, so what a service returns stays readable after the transaction.
        try:
            self.session.close()
        finally:
            self._end_turn()
        if exc is not None:  # driver errors of statements run past SQLAlchemy (run_appends)
            raise_domain_error(exc, self.session.get_bind().dialect.loaded_dbapi)

    def flush(self) -> None:
        with translate_errors():
            self.session.flush()

    def commit(self) -> None:
        with translate_errors():
            self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()


class RunDataUnitOfWork(_WriterTurn):
    """``with uow: found = uow.runs.append(run_id, ...); (check found); uow.commit()``.

    One write transaction on a pooled driver connection, for one tenant (or the system),
    with ``runs`` the ``RunAppends`` of that connection; rolled back unless committed. On
    SQLite it takes the writer lock and ``BEGIN IMMEDIATE`` as a ``SqlUnitOfWork`` does. On
    PostgreSQL an ``append`` is the whole transaction and commits itself: it writes only
    where the run accepts it and no param is stored with another value, so there is
    nothing left for the caller to refuse (see ``RunAppends.append``).
    """

    def __init__(self, engine: Engine, tenant_id: str | None) -> None:
        self._engine = engine
        self.tenant_id = tenant_id
        self._committed = False

    def __enter__(self) -> Self:
        dialect = self._engine.dialect.name
        if dialect == "sqlite":
            self._take_turn(self._engine)
        try:
            self._connection = self._engine.raw_connection()
        except BaseException:
            self._end_turn()
            raise
        try:
            raw = self._connection.driver_connection
            if dialect == "sqlite":
                begin_sqlite_write(raw)
            self.runs = RunAppends(raw, dialect, self.tenant_id, commits_alone=True)
        except BaseException as exc:
            self.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def commit(self) -> None:
        self._connection.commit()
        self._committed = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, dbapi = self._connection, self._engine.dialect.loaded_dbapi
        try:
            if isinstance(exc, dbapi.Error) and self._engine.dialect.is_disconnect(
                exc, connection.dbapi_connection, None
            ):
                connection.invalidate(exc)  # the pool connects afresh next time
            elif not self._committed:
                connection.rollback()
            connection.close()  # back to the pool
        finally:
            self._end_turn()
        if exc is not None:
            raise_domain_error(exc, dbapi)


def raise_domain_error(exc: BaseException, dbapi: Any = None) -> None:
    """Raise the domain error a database error means, if any.

    ``exc`` is SQLAlchemy's, or with ``dbapi`` (the driver module) the driver's own, from
    statements run past SQLAlchemy.
    """
    integrity: tuple[type, ...] = (IntegrityError,)
    unavailable: tuple[type, ...] = (OperationalError,)
    unstorable: tuple[type, ...] = ()
    if dbapi is not None:
        integrity += (dbapi.IntegrityError,)
        unavailable += (dbapi.OperationalError,)
        unstorable = (dbapi.DataError,)
    if isinstance(exc, integrity):
        message = str(getattr(exc, "orig", exc)).lower()
        if "unique" in message or "duplicate" in message:
            raise AlreadyExists("an object with the same unique name already exists") from exc
        raise Conflict(f"the change conflicts with existing data: {exc}") from exc
    if isinstance(exc, unavailable):
        raise Unavailable("the database is unavailable; try again shortly") from exc
    if isinstance(exc, unstorable):
        raise InvalidInput(
            "a value in the request cannot be stored: remove NUL characters and keep "
            "numbers within 64-bit range"
        ) from exc


class translate_errors:  # noqa: N801 - used as a context manager, reads like one
    """Turn database errors into domain errors at the storage boundary."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        if exc is not None:
            raise_domain_error(exc)


class UnitOfWorkFactory:
    """Opens units of work; the only way services reach the database."""

    def __init__(self, factory: sessionmaker[TenantSession]) -> None:
        self._factory = factory
        self._engine: Engine = factory.kw["bind"]

    def for_tenant(self, tenant_id: str, *, write: bool = True, autocommit: bool = False
                   ) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._factory, tenant_id, write=write, autocommit=autocommit)

    def system(self, *, write: bool = True, autocommit: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._factory, None, write=write, autocommit=autocommit)

    def for_run_data(self, tenant_id: str | None) -> RunDataUnitOfWork:
        """A write that only appends to runs (``uow.runs`` is a ``RunAppends``)."""
        return RunDataUnitOfWork(self._engine, tenant_id)
