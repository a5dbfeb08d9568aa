"""Roles and permissions: five hierarchical roles over ``resource:action`` permissions.

Each role holds its own permissions plus every permission of the roles below it::

    viewer < data_scientist < ml_engineer < tenant_admin < platform_admin

A viewer reads everything in its tenant and may use it (predict, manage its own API
keys), but changes nothing else.
"""

from __future__ import annotations

from enum import StrEnum

from maestro_ml.domain.errors import InvalidInput


class Role(StrEnum):
    VIEWER = "viewer"
    DATA_SCIENTIST = "data_scientist"
    ML_ENGINEER = "ml_engineer"
    TENANT_ADMIN = "tenant_admin"
    PLATFORM_ADMIN = "platform_admin"

    @property
    def rank(self) -> int:
        return ROLE_ORDER.index(self)

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


ROLE_ORDER: list[Role] = list(Role)

_GRANTS: dict[Role, set[str]] = {
    Role.VIEWER: {
        "tenants:read", "users:read",
        "api_keys:read", "api_keys:write",
        "experiments:read", "runs:read", "artifacts:read", "datasets:read",
        "models:read", "deployments:read", "jobs:read",
        "predictions:create", "predictions:read", "metrics:read",
        "slos:read",
    },
    Role.DATA_SCIENTIST: {
        "experiments:write", "experiments:delete",
        "runs:write", "runs:delete", "artifacts:write",
        "datasets:write", "datasets:delete",
        "models:write", "jobs:write", "jobs:cancel", "predictions:feedback",
    },
    Role.ML_ENGINEER: {
        "models:delete", "models:promote",
        "deployments:write", "deployments:delete", "deployments:approve",
    },
    Role.TENANT_ADMIN: {
        "users:write", "users:delete", "api_keys:admin",
        "audit:read", "quotas:read", "tenants:settings",
    },
    Role.PLATFORM_ADMIN: {
        "tenants:write", "tenants:delete", "quotas:write", "system:admin",
        "system:metrics",  # the platform-wide /metrics scrape: counts of every tenant
    },
}

ALL_PERMISSIONS: frozenset[str] = frozenset().union(*_GRANTS.values())

# Permissions a viewer holds that are not reads: using the platform, not changing it.
SELF_SERVICE: frozenset[str] = frozenset({"api_keys:write", "predictions:create"})


def _cumulative() -> dict[Role, frozenset[str]]:
    result: dict[Role, frozenset[str]] = {}
    held: set[str] = set()
    for role in ROLE_ORDER:
        held |= _GRANTS[role]
        result[role] = frozenset(held)
    return result


ROLE_PERMISSIONS: dict[Role, frozenset[str]] = _cumulative()


def has_permission(role: Role, permission: str) -> bool:
    return permission in ROLE_PERMISSIONS[role]


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        names = ", ".join(r.value for r in ROLE_ORDER)
        raise InvalidInput(f"unknown role '{value}'; roles are: {names}") from None
