"""The unit of work: one transaction, its repositories, and error translation at commit."""

from __future__ import annotations

from threading import RLock
from types import TracebackType
from typing import Self

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import sessionmaker

from maestro_ml.domain.errors import AlreadyExists, Conflict, Unavailable

from .database import sqlite_writer_lock
from .repositories import Repositories
from .tenancy import TENANT_KEY, TenantSession


class SqlUnitOfWork(Repositories):
    """``with uow: ...; uow.commit()`` — rolled back unless committed.

    Opened for one tenant (every query scoped to it) or, explicitly, for the system.
    """

    def __init__(
        self, factory: sessionmaker[TenantSession], tenant_id: str | None, *, write: bool = True
    ) -> None:
        self._factory = factory
        self.tenant_id = tenant_id
        self._write = write
        self._writer_lock: RLock | None = None

    def __enter__(self) -> Self:
        session = self._factory()
        session.info[TENANT_KEY] = self.tenant_id
        bind = session.bind
        if self._write and isinstance(bind, Engine) and bind.dialect.name == "sqlite":
            lock = sqlite_writer_lock(bind)
            lock.acquire()
            try:
                session.connection(execution_options={"sqlite_write": True})
            except BaseException:
                session.close()
                lock.release()
                raise
            self._writer_lock = lock
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
            lock, self._writer_lock = self._writer_lock, None
            if lock is not None:
                lock.release()

    def flush(self) -> None:
        with translate_errors():
            self.session.flush()

    def commit(self) -> None:
        with translate_errors():
            self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()


class translate_errors:  # noqa: N801 - used as a context manager, reads like one
    """Turn driver errors into domain errors at the storage boundary."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, IntegrityError):
            message = str(exc.orig).lower()
            if "unique" in message or "duplicate" in message:
                raise AlreadyExists("an object with the same unique name already exists") from exc
            raise Conflict(f"the change conflicts with existing data: {exc.orig}") from exc
        if isinstance(exc, OperationalError):
            raise Unavailable("the database is unavailable; try again shortly") from exc


class UnitOfWorkFactory:
    """Opens units of work; the only way services reach the database."""

    def __init__(self, factory: sessionmaker[TenantSession]) -> None:
        self._factory = factory

    def for_tenant(self, tenant_id: str, *, write: bool = True) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._factory, tenant_id, write=write)

    def system(self, *, write: bool = True) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._factory, None, write=write)
