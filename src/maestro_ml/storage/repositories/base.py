"""The generic repository: create, get, get_by_name, list with keyset pages, delete.

Tenant scoping is not done here: the ``TenantSession`` adds it to every statement, so a
repository written for one tenant can never read another's rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import Select, bindparam, func, select, tuple_
from sqlalchemy.orm import Session

from maestro_ml.domain.errors import InvalidInput, NotFound
from maestro_ml.domain.pagination import decode_cursor, encode_cursor

from ..tenancy import TENANT_KEY

T = TypeVar("T")
RowT = TypeVar("RowT")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


_BY_ID: dict[type, Select[Any]] = {}


def _by_id(row: type) -> Select[Any]:
    """``select(row).where(row.id == :ident)``, built once per table: building a statement
    costs as much as running a cached one (the tenant filter is still added per execution)."""
    stmt = _BY_ID.get(row)
    if stmt is None:
        stmt = _BY_ID[row] = select(row).where(row.id == bindparam("ident"))  # type: ignore[attr-defined]
    return stmt


class Repository(Generic[RowT]):
    row: ClassVar[type]
    kind: ClassVar[str]

    def __init__(self, session: Session) -> None:
        self.session = session

    def create(self, **fields: Any) -> RowT:
        obj = self.row(**fields)
        self.session.add(obj)
        return obj

    def get(self, ident: str) -> RowT:
        found = self.find(ident)
        if found is None:
            raise NotFound.of(self.kind, ident)
        return found

    def find(self, ident: str) -> RowT | None:
        if not isinstance(ident, str) or not ident:
            return None
        return self.session.scalars(_by_id(self.row), {"ident": ident}).first()

    def first_scoped(self, scoped: Any, any_tenant: Any, params: dict[str, Any]) -> Any:
        """The first row of a prebuilt Core statement, in this session's tenant.

        Core statements on the connection skip the ORM's per-statement work (the hot
        tracking paths), and with it the session's tenant filter, so each comes in two
        forms: ``scoped`` filters on ``tenant_id = :tenant_id`` (bound here, from the
        session), ``any_tenant`` serves system work, which has no tenant.
        """
        tenant_id = self.session.info.get(TENANT_KEY)
        if tenant_id is None:
            return self.session.connection().execute(any_tenant, params).first()
        return self.session.connection().execute(
            scoped, {**params, "tenant_id": tenant_id}).first()

    def get_scoped(self, scoped: Any, any_tenant: Any, param: str, ident: Any) -> Any:
        """``first_scoped`` for one object by its id (bound as ``param``), or NotFound."""
        found = None
        if isinstance(ident, str):
            found = self.first_scoped(scoped, any_tenant, {param: ident})
        if found is None:
            raise NotFound.of(self.kind, ident)
        return found

    def get_by_name(self, name: str) -> RowT:
        found = self.session.scalars(select(self.row).where(self.row.name == name)).first()
        if found is None:
            raise NotFound.of(self.kind, name)
        return found

    def find_by_name(self, name: str) -> RowT | None:
        return self.session.scalars(select(self.row).where(self.row.name == name)).first()

    def delete(self, obj: RowT) -> None:
        self.session.delete(obj)

    def query(self) -> Select[tuple[RowT]]:
        return select(self.row)

    def list(
        self, *, limit: int, cursor: str | None = None, where: Sequence[Any] = ()
    ) -> Page[RowT]:
        """Newest first, keyset-paginated on (created_at, id)."""
        stmt = self.query().where(*where)
        return self.paginate(stmt, limit=limit, cursor=cursor)

    def paginate(self, stmt: Select[Any], *, limit: int, cursor: str | None) -> Page[RowT]:
        created, ident = self.row.created_at, self.row.id
        if cursor:
            position = decode_cursor(cursor)
            try:
                after = (datetime.fromisoformat(position["c"]), str(position["i"]))
            except (KeyError, TypeError, ValueError):
                raise InvalidInput("invalid page token") from None
            stmt = stmt.where(tuple_(created, ident) < tuple_(*after))
        ordered = stmt.order_by(created.desc(), ident.desc()).limit(limit + 1)
        rows = list(self.session.scalars(ordered))
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            next_cursor = encode_cursor({"c": last.created_at.isoformat(), "i": last.id})
        return Page(rows, next_cursor)

    def count(self, where: Sequence[Any] = ()) -> int:
        stmt = select(func.count(self.row.id)).where(*where)
        return int(self.session.scalar(stmt) or 0)


def escape_like(text: str) -> str:
    """``text`` with LIKE's wildcards escaped (use with ``escape="\\"``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
