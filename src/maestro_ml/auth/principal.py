"""The authenticated caller: who, in which tenant, with which role."""

from __future__ import annotations

from dataclasses import dataclass

from .permissions import Role, has_permission


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    tenant_id: str
    role: Role
    email: str
    api_key_id: str | None = None

    def can(self, permission: str) -> bool:
        return has_permission(self.role, permission)

    @property
    def is_platform_admin(self) -> bool:
        return self.role is Role.PLATFORM_ADMIN
