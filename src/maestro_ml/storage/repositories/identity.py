"""Repositories of tenants, users, API keys and refresh tokens."""

from __future__ import annotations

from sqlalchemy import select

from maestro_ml.domain.errors import NotFound

from ..tables import ApiKeyRow, RefreshTokenRow, TenantRow, UserRow
from .base import Repository


class TenantRepository(Repository[TenantRow]):
    row = TenantRow
    kind = "tenant"

    def __init__(self, session, tenant_id: str | None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(session)
        self._tenant_id = tenant_id

    def query(self):  # type: ignore[no-untyped-def]
        # A tenant's unit of work sees its own tenant only.
        stmt = select(TenantRow)
        if self._tenant_id is not None:
            stmt = stmt.where(TenantRow.id == self._tenant_id)
        return stmt

    def find(self, ident: str) -> TenantRow | None:
        if self._tenant_id is not None and ident != self._tenant_id:
            return None
        return self.session.scalars(select(TenantRow).where(TenantRow.id == ident)).first()

    def current(self) -> TenantRow:
        if self._tenant_id is None:
            raise NotFound("no current tenant in a system unit of work")
        return self.get(self._tenant_id)


class UserRepository(Repository[UserRow]):
    row = UserRow
    kind = "user"

    def find_by_email(self, email: str) -> UserRow | None:
        if "\x00" in email:  # no stored email holds NUL (PostgreSQL refuses to compare one)
            return None
        return self.session.scalars(select(UserRow).where(UserRow.email == email.lower())).first()

    def any_exist(self) -> bool:
        return self.session.scalars(select(UserRow.id).limit(1)).first() is not None


class ApiKeyRepository(Repository[ApiKeyRow]):
    row = ApiKeyRow
    kind = "API key"

    def find_by_hash(self, key_hash: str) -> ApiKeyRow | None:
        return self.session.scalars(select(ApiKeyRow).where(ApiKeyRow.key_hash == key_hash)).first()


class RefreshTokenRepository(Repository[RefreshTokenRow]):
    row = RefreshTokenRow
    kind = "refresh token"

    def find_by_hash(self, token_hash: str) -> RefreshTokenRow | None:
        stmt = select(RefreshTokenRow).where(RefreshTokenRow.token_hash == token_hash)
        return self.session.scalars(stmt).first()

    def family(self, family_id: str) -> list[RefreshTokenRow]:
        stmt = select(RefreshTokenRow).where(RefreshTokenRow.family_id == family_id)
        return list(self.session.scalars(stmt))
