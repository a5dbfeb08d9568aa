"""Tenant isolation by construction, at the session level.

A ``TenantSession`` opened for a tenant adds ``tenant_id = :tenant`` to every ORM select,
update and delete of a tenant-scoped table (``with_loader_criteria``), and stamps that
tenant on every new row at flush, refusing a row that names another tenant. Repositories
therefore cannot forget the filter: another tenant's object is simply not there (404).
Only system work (login, bootstrap, the job worker's claim loop) opens an unscoped session,
and it has to ask for one by name.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from maestro_ml.domain.errors import PermissionDenied

from .tables import TenantScoped

TENANT_KEY = "tenant_id"


class TenantSession(Session):
    """A session that knows which tenant it serves (``None`` for system work)."""

    @property
    def tenant_id(self) -> str | None:
        return self.info.get(TENANT_KEY)


@event.listens_for(TenantSession, "do_orm_execute")
def _scope_statements(state: ORMExecuteState) -> None:
    tenant_id = state.session.info.get(TENANT_KEY)
    if tenant_id is None or not (state.is_select or state.is_update or state.is_delete):
        return
    if state.execution_options.get("include_all_tenants"):
        return
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantScoped, lambda cls: cls.tenant_id == tenant_id, include_aliases=True
        )
    )


@event.listens_for(TenantSession, "before_flush")
def _stamp_new_rows(session: Session, _ctx: Any, _instances: Any) -> None:
    tenant_id = session.info.get(TENANT_KEY)
    if tenant_id is None:
        return
    for obj in session.new:
        if not isinstance(obj, TenantScoped):
            continue
        current = getattr(obj, "tenant_id", None)
        if current is None:
            obj.tenant_id = tenant_id
        elif current != tenant_id:
            raise PermissionDenied("cannot write an object into another tenant")
    for obj in session.dirty:
        if isinstance(obj, TenantScoped) and obj.tenant_id != tenant_id:
            raise PermissionDenied("cannot move an object into another tenant")
